-- The delivery order is also what receivers reorder by: name the column after
-- the `sequence` field they see. AUTOINCREMENT (since 0008) already makes it
-- strictly increasing in commit order and never reused, even after purges.
ALTER TABLE `outbox_events` RENAME COLUMN `seq` TO `sequence`;
--> statement-breakpoint
-- The counter objects that may hold clicks D1 does not have yet, and the newest
-- of each one's flushes (numbered by the counter, 1, 2, 3 …) that landed:
-- reads add what a counter holds beyond that flush to the daily aggregates.
-- A counter is listed before it learns its first code; the flush batch moves
-- `flushed` in the same transaction as the aggregates it adds.
CREATE TABLE `click_counters` (
	`counter` text PRIMARY KEY NOT NULL,
	`flushed` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
INSERT OR IGNORE INTO `click_counters` (`counter`) SELECT DISTINCT `counter` FROM `click_flushes`;
