-- Attribution beyond the cookie (docs/attribution.md). A referral's `source` now
-- names one of five carriers (cookie, url, promotion_code, code, email_match);
-- the column is plain text, so it needs no change. bySource reads these two
-- indexes alone: signups and conversions in a range of days, per carrier.
CREATE INDEX `referrals_signed_up_source_idx` ON `referrals` (`signed_up_at`,`source`);
--> statement-breakpoint
CREATE INDEX `referrals_converted_source_idx` ON `referrals` (`converted_at`,`source`);
--> statement-breakpoint
-- The keyed hash of the referee's email, when the signup gave it: a checkout
-- that names no user (a Payment Link) is mapped to its referee by it.
ALTER TABLE `referrals` ADD `referee_email_hash` text;
--> statement-breakpoint
CREATE INDEX `referrals_referee_email_idx` ON `referrals` (`referee_email_hash`);
--> statement-breakpoint
-- When the referee's free trial ends, as the subscription reported it.
ALTER TABLE `referrals` ADD `trial_ends_at` integer;
--> statement-breakpoint
-- The referrer's Stripe promotion code (customer-facing code = the referral
-- code), and the last failed attempt to create it, which the cron retries.
ALTER TABLE `referral_codes` ADD `stripe_promotion_code_id` text;
--> statement-breakpoint
ALTER TABLE `referral_codes` ADD `stripe_promotion_code_active` integer;
--> statement-breakpoint
ALTER TABLE `referral_codes` ADD `stripe_promotion_code_seen_at` integer;
--> statement-breakpoint
ALTER TABLE `referral_codes` ADD `promotion_code_error` text;
--> statement-breakpoint
ALTER TABLE `referral_codes` ADD `promotion_code_attempted_at` integer;
--> statement-breakpoint
CREATE UNIQUE INDEX `referral_codes_promotion_code_unique` ON `referral_codes` (`stripe_promotion_code_id`);
--> statement-breakpoint
CREATE INDEX `referral_codes_promotion_retry_idx` ON `referral_codes` (`promotion_code_attempted_at`)
  WHERE `stripe_promotion_code_id` IS NULL AND `promotion_code_error` IS NOT NULL;
