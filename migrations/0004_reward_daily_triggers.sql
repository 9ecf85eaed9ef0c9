-- Keep reward_daily in step with the ledger, whatever statement grants or moves
-- an entry. Debt entries (negative amounts) are bookkeeping, not rewards.
CREATE TRIGGER `reward_daily_on_grant` AFTER INSERT ON `rewards` WHEN NEW.`amount` > 0
BEGIN
  INSERT INTO `reward_daily` (`day`, `type`, `granted`, `revoked`)
  VALUES (date(NEW.`created_at` / 1000, 'unixepoch'), NEW.`type`, 1, NEW.`status` = 'revoked')
  ON CONFLICT (`day`, `type`) DO UPDATE SET
    `granted` = `granted` + 1,
    `revoked` = `revoked` + excluded.`revoked`;
END;
--> statement-breakpoint
CREATE TRIGGER `reward_daily_on_status` AFTER UPDATE OF `status` ON `rewards`
  WHEN NEW.`amount` > 0 AND NEW.`status` <> OLD.`status` AND NEW.`status` IN ('redeemed', 'expired', 'revoked')
BEGIN
  INSERT INTO `reward_daily` (`day`, `type`, `redeemed`, `expired`, `revoked`)
  VALUES (
    date(NEW.`updated_at` / 1000, 'unixepoch'), NEW.`type`,
    NEW.`status` = 'redeemed', NEW.`status` = 'expired', NEW.`status` = 'revoked'
  )
  ON CONFLICT (`day`, `type`) DO UPDATE SET
    `redeemed` = `redeemed` + excluded.`redeemed`,
    `expired` = `expired` + excluded.`expired`,
    `revoked` = `revoked` + excluded.`revoked`;
END;
--> statement-breakpoint
-- Entries that existed before the triggers: granted on their creation day, and
-- (as far as the ledger tells) moved on their last update day.
INSERT INTO `reward_daily` (`day`, `type`, `granted`)
SELECT date(`created_at` / 1000, 'unixepoch'), `type`, count(*) FROM `rewards` WHERE `amount` > 0 GROUP BY 1, 2
ON CONFLICT (`day`, `type`) DO UPDATE SET `granted` = `granted` + excluded.`granted`;
--> statement-breakpoint
INSERT INTO `reward_daily` (`day`, `type`, `redeemed`, `expired`, `revoked`)
SELECT date(`updated_at` / 1000, 'unixepoch'), `type`,
  sum(`status` = 'redeemed'), sum(`status` = 'expired'), sum(`status` = 'revoked')
FROM `rewards` WHERE `amount` > 0 AND `status` IN ('redeemed', 'expired', 'revoked') GROUP BY 1, 2
ON CONFLICT (`day`, `type`) DO UPDATE SET
  `redeemed` = `redeemed` + excluded.`redeemed`,
  `expired` = `expired` + excluded.`expired`,
  `revoked` = `revoked` + excluded.`revoked`;
