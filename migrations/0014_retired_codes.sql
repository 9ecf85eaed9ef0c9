-- Click rows and per-code daily aggregates exist only for codes that exist.
-- Erasure retires a user's code (renames it, see src/services/privacy.ts); a
-- flush that was already in flight to D1 at that moment carries rows under the
-- old code, which would bring the erased user's name part back. They are
-- dropped here instead, row by row, while the rest of the flush lands.
CREATE TRIGGER `clicks_need_code` BEFORE INSERT ON `clicks`
  WHEN NOT EXISTS (SELECT 1 FROM `referral_codes` WHERE `code` = NEW.`code`)
BEGIN
  SELECT RAISE(IGNORE);
END;
--> statement-breakpoint
CREATE TRIGGER `code_daily_needs_code` BEFORE INSERT ON `code_daily`
  WHEN NOT EXISTS (SELECT 1 FROM `referral_codes` WHERE `code` = NEW.`code`)
BEGIN
  SELECT RAISE(IGNORE);
END;
