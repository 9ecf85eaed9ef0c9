CREATE TABLE `user_visitors` (
	`user_id` text NOT NULL,
	`visitor_hash` text NOT NULL,
	`seen_at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `visitor_hash`)
);
--> statement-breakpoint
CREATE INDEX `user_visitors_seen_idx` ON `user_visitors` (`seen_at`);--> statement-breakpoint
DROP INDEX `referrals_referrer_idx`;--> statement-breakpoint
ALTER TABLE `referrals` ADD `referrer_rewarded` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `referrals_referrer_idx` ON `referrals` (`referrer_id`,`referrer_rewarded`,`signed_up_at`);