CREATE TABLE `revenue_daily` (
	`day` text NOT NULL,
	`currency` text NOT NULL,
	`gross` integer DEFAULT 0 NOT NULL,
	`refunded` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day`, `currency`)
);
--> statement-breakpoint
CREATE TABLE `stripe_charges` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`customer_id` text NOT NULL,
	`payment_intent` text,
	`currency` text NOT NULL,
	`amount` integer NOT NULL,
	`amount_refunded` integer NOT NULL,
	`fully_refunded_at` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stripe_charges_user_idx` ON `stripe_charges` (`user_id`);--> statement-breakpoint
CREATE TABLE `stripe_deferred_events` (
	`event_id` text PRIMARY KEY NOT NULL,
	`customer_id` text NOT NULL,
	`payload` text NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stripe_deferred_customer_idx` ON `stripe_deferred_events` (`customer_id`);--> statement-breakpoint
CREATE TABLE `stripe_disputes` (
	`id` text PRIMARY KEY NOT NULL,
	`charge_id` text NOT NULL,
	`payment_intent` text,
	`user_id` text,
	`status` text NOT NULL,
	`status_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stripe_disputes_charge_idx` ON `stripe_disputes` (`charge_id`);--> statement-breakpoint
CREATE INDEX `stripe_disputes_intent_idx` ON `stripe_disputes` (`payment_intent`);--> statement-breakpoint
CREATE INDEX `stripe_disputes_user_idx` ON `stripe_disputes` (`user_id`);--> statement-breakpoint
CREATE TABLE `stripe_guards` (
	`subject` text NOT NULL,
	`version` integer NOT NULL,
	`event_id` text NOT NULL,
	PRIMARY KEY(`subject`, `version`)
);
--> statement-breakpoint
CREATE TABLE `stripe_payments` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`customer_id` text NOT NULL,
	`payment_intent` text,
	`currency` text NOT NULL,
	`amount` integer NOT NULL,
	`paid_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stripe_payments_user_idx` ON `stripe_payments` (`user_id`);--> statement-breakpoint
CREATE INDEX `stripe_payments_intent_idx` ON `stripe_payments` (`payment_intent`);--> statement-breakpoint
ALTER TABLE `referrals` ADD `conversion_payment_id` text;--> statement-breakpoint
ALTER TABLE `referrals` ADD `clawed_back_at` integer;--> statement-breakpoint
ALTER TABLE `referrals` ADD `canceled_at` integer;--> statement-breakpoint
ALTER TABLE `rewards` ADD `fulfilled_at` integer;--> statement-breakpoint
ALTER TABLE `rewards` ADD `external_ref` text;