CREATE TABLE `blocked_attributions` (
	`id` text PRIMARY KEY NOT NULL,
	`code` text NOT NULL,
	`referee_id` text NOT NULL,
	`reason` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `blocked_attributions_code_idx` ON `blocked_attributions` (`code`,`created_at`);--> statement-breakpoint
CREATE TABLE `click_flushes` (
	`id` text PRIMARY KEY NOT NULL,
	`code` text NOT NULL,
	`click_count` integer NOT NULL,
	`flushed_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `clicks` (
	`id` text PRIMARY KEY NOT NULL,
	`code` text NOT NULL,
	`clicked_at` integer NOT NULL,
	`visitor_hash` text NOT NULL,
	`is_bot` integer NOT NULL,
	`is_unique` integer NOT NULL,
	`country` text,
	`referrer_host` text,
	`agent_family` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `clicks_code_time_idx` ON `clicks` (`code`,`clicked_at`);--> statement-breakpoint
CREATE INDEX `clicks_time_idx` ON `clicks` (`clicked_at`);--> statement-breakpoint
CREATE TABLE `code_daily` (
	`code` text NOT NULL,
	`day` text NOT NULL,
	`clicks` integer DEFAULT 0 NOT NULL,
	`unique_clicks` integer DEFAULT 0 NOT NULL,
	`bot_clicks` integer DEFAULT 0 NOT NULL,
	`signups` integer DEFAULT 0 NOT NULL,
	`conversions` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`code`, `day`)
);
--> statement-breakpoint
CREATE TABLE `program_daily` (
	`day` text PRIMARY KEY NOT NULL,
	`clicks` integer DEFAULT 0 NOT NULL,
	`unique_clicks` integer DEFAULT 0 NOT NULL,
	`bot_clicks` integer DEFAULT 0 NOT NULL,
	`signups` integer DEFAULT 0 NOT NULL,
	`conversions` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `referral_codes` (
	`code` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`display_name` text,
	`email_hash` text,
	`clicks` integer DEFAULT 0 NOT NULL,
	`unique_clicks` integer DEFAULT 0 NOT NULL,
	`bot_clicks` integer DEFAULT 0 NOT NULL,
	`signups` integer DEFAULT 0 NOT NULL,
	`conversions` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `referral_codes_user_id_unique` ON `referral_codes` (`user_id`);--> statement-breakpoint
CREATE INDEX `referral_codes_ranking_idx` ON `referral_codes` (`signups`,`conversions`);--> statement-breakpoint
CREATE TABLE `referrals` (
	`id` text PRIMARY KEY NOT NULL,
	`code` text NOT NULL,
	`referrer_id` text NOT NULL,
	`referee_id` text NOT NULL,
	`click_id` text,
	`source` text NOT NULL,
	`status` text NOT NULL,
	`signed_up_at` integer NOT NULL,
	`converted_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `referrals_referee_id_unique` ON `referrals` (`referee_id`);--> statement-breakpoint
CREATE INDEX `referrals_referrer_idx` ON `referrals` (`referrer_id`,`signed_up_at`);--> statement-breakpoint
CREATE INDEX `referrals_code_idx` ON `referrals` (`code`);--> statement-breakpoint
CREATE TABLE `rewards` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`referral_id` text,
	`type` text NOT NULL,
	`amount` integer NOT NULL,
	`currency` text,
	`feature` text,
	`status` text NOT NULL,
	`rule` text NOT NULL,
	`trigger` text NOT NULL,
	`trigger_id` text,
	`dedupe_key` text NOT NULL,
	`valid_from` integer NOT NULL,
	`valid_until` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`redeemed_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `rewards_dedupe_key_unique` ON `rewards` (`dedupe_key`);--> statement-breakpoint
CREATE INDEX `rewards_user_idx` ON `rewards` (`user_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `rewards_expiry_idx` ON `rewards` (`status`,`valid_until`);--> statement-breakpoint
CREATE INDEX `rewards_referral_idx` ON `rewards` (`referral_id`);--> statement-breakpoint
CREATE TABLE `stripe_customers` (
	`customer_id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stripe_customers_user_idx` ON `stripe_customers` (`user_id`);--> statement-breakpoint
CREATE TABLE `stripe_events` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`processed_at` integer NOT NULL
);
