-- The delivery order is also what receivers reorder by: name the column after
-- the `sequence` field they see. AUTOINCREMENT (since 0008) already makes it
-- strictly increasing in commit order and never reused, even after purges.
ALTER TABLE `outbox_events` RENAME COLUMN `seq` TO `sequence`;
