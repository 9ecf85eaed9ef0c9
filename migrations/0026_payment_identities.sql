-- Self-referrals found at payment time. Every payer's card fingerprint and
-- billing email are kept as keyed hashes (never the values), with the earliest
-- Stripe time each was used at; a referee paying with their referrer's card or
-- email marks the referral (`fraud_reason`, `fraud_at`: when both sides had used
-- it) and takes its rewards back as a refund would.
CREATE TABLE `payment_identities` (
	`user_id` text NOT NULL,
	`kind` text NOT NULL,
	`hash` text NOT NULL,
	`seen_at` integer NOT NULL,
	PRIMARY KEY(`kind`, `hash`, `user_id`)
);
--> statement-breakpoint
CREATE INDEX `payment_identities_user_idx` ON `payment_identities` (`user_id`);
--> statement-breakpoint
ALTER TABLE `referrals` ADD `fraud_reason` text;
--> statement-breakpoint
ALTER TABLE `referrals` ADD `fraud_at` integer;
