ALTER TABLE `blocked_attributions` ADD `click_id` text;
--> statement-breakpoint
CREATE INDEX `referrals_click_idx` ON `referrals` (`click_id`);
