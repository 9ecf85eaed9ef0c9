CREATE TABLE `click_backlog` (
	`click_id` text PRIMARY KEY NOT NULL,
	`counter` text NOT NULL,
	`click` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `click_backlog_created_idx` ON `click_backlog` (`created_at`);