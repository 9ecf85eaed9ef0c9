-- The operator's console records every ledger action it takes, with a note.
CREATE TABLE `admin_audit` (
  `id` text PRIMARY KEY NOT NULL,
  `actor` text NOT NULL,
  `action` text NOT NULL,
  `reward_id` text,
  `user_id` text NOT NULL,
  `note` text NOT NULL,
  `created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `admin_audit_user_idx` ON `admin_audit` (`user_id`, `created_at`);
