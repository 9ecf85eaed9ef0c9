-- The raw click log moves to R2 (docs/click-log.md); D1 keeps aggregates, a
-- short hot window of click rows, and the click details each referral needs.
--
-- The details of the click that brought a referee, copied when the
-- attribution is made, so a referral's story never needs the raw log.
CREATE TABLE `referral_clicks` (
	`referral_id` text PRIMARY KEY NOT NULL,
	`clicked_at` integer NOT NULL,
	`country` text,
	`referrer_host` text,
	`agent_family` text
);
--> statement-breakpoint
INSERT INTO `referral_clicks` (`referral_id`, `clicked_at`, `country`, `referrer_host`, `agent_family`)
SELECT r.`id`, c.`clicked_at`, c.`country`, c.`referrer_host`, c.`agent_family`
FROM `referrals` r JOIN `clicks` c ON c.`id` = r.`click_id`;
--> statement-breakpoint
-- The rows flushed before the R2 log existed become `clicks_legacy`, which the
-- cron moves to R2 in chunks and empties (src/services/click-log-migration.ts).
-- Indexes and the trigger go first: their names are the new table's.
DROP TRIGGER `clicks_need_code`;
--> statement-breakpoint
DROP INDEX `clicks_code_time_idx`;
--> statement-breakpoint
DROP INDEX `clicks_time_idx`;
--> statement-breakpoint
ALTER TABLE `clicks` RENAME TO `clicks_legacy`;
--> statement-breakpoint
-- The hot window: the last CLICK_LOG_HOT_DAYS days of click rows (the R2 log has them all).
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
CREATE INDEX `clicks_code_time_idx` ON `clicks` (`code`,`clicked_at`);
--> statement-breakpoint
CREATE INDEX `clicks_time_idx` ON `clicks` (`clicked_at`);
--> statement-breakpoint
-- As before (0014): rows of a retired code that were in flight are dropped.
CREATE TRIGGER `clicks_need_code` BEFORE INSERT ON `clicks`
  WHEN NOT EXISTS (SELECT 1 FROM `referral_codes` WHERE `code` = NEW.`code`)
BEGIN
  SELECT RAISE(IGNORE);
END;
