-- Reward mechanics: holding periods and the referrer's choice.
-- `available_at`: a pending entry waiting out its rule's holding period counts
-- as active from this time (the cron then moves it to `active`); null when the
-- entry is pending for another reason (an open dispute, an operator's hold).
ALTER TABLE `rewards` ADD `available_at` integer;
--> statement-breakpoint
-- `choices`: the options (JSON) the referrer picks from; `choose_by`: after it the
-- cron picks the first; `choice`: the option taken, set once by a guarded UPDATE.
ALTER TABLE `rewards` ADD `choices` text;
--> statement-breakpoint
ALTER TABLE `rewards` ADD `choose_by` integer;
--> statement-breakpoint
ALTER TABLE `rewards` ADD `choice` text;
--> statement-breakpoint
-- What the cron reads: pending entries whose hold ended or whose choice is due.
CREATE INDEX `rewards_available_idx` ON `rewards` (`status`,`available_at`);
--> statement-breakpoint
CREATE INDEX `rewards_choose_by_idx` ON `rewards` (`status`,`choose_by`);
