-- Bundled choice options ("50 messages + 25 requests"): the entry offering the
-- choice becomes the bundle's first reward, and each further reward is an entry
-- of its own, inserted in the same batch as the choice, whose `bundle_of` names
-- the entry it came with. Refunds, clawbacks and revocations take them back together.
ALTER TABLE `rewards` ADD `bundle_of` text;
--> statement-breakpoint
CREATE INDEX `rewards_bundle_of_idx` ON `rewards` (`bundle_of`) WHERE `bundle_of` IS NOT NULL;
