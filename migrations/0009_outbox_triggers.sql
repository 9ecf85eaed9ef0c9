-- Events for the host product, written in the same statement as the change
-- they report: an event exists exactly when its change committed.
CREATE TRIGGER `outbox_referral_signed_up` AFTER INSERT ON `referrals`
BEGIN
  INSERT INTO `outbox_events` (`id`, `type`, `payload`, `created_at`, `next_attempt_at`)
  VALUES ('evt_' || lower(hex(randomblob(16))), 'referral.signed_up', json_object(
      'referralId', NEW.`id`, 'code', NEW.`code`, 'referrerId', NEW.`referrer_id`, 'refereeId', NEW.`referee_id`,
      'source', NEW.`source`, 'status', NEW.`status`, 'referrerRewarded', json(CASE WHEN NEW.`referrer_rewarded` THEN 'true' ELSE 'false' END),
      'signedUpAt', CASE WHEN NEW.`signed_up_at` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`signed_up_at` / 1000.0, 'unixepoch') END, 'convertedAt', CASE WHEN NEW.`converted_at` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`converted_at` / 1000.0, 'unixepoch') END,
      'conversionPaymentId', NEW.`conversion_payment_id`
    ), CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
--> statement-breakpoint
CREATE TRIGGER `outbox_referral_converted` AFTER UPDATE OF `status` ON `referrals`
  WHEN NEW.`status` = 'converted' AND OLD.`status` <> 'converted'
BEGIN
  INSERT INTO `outbox_events` (`id`, `type`, `payload`, `created_at`, `next_attempt_at`)
  VALUES ('evt_' || lower(hex(randomblob(16))), 'referral.converted', json_object(
      'referralId', NEW.`id`, 'code', NEW.`code`, 'referrerId', NEW.`referrer_id`, 'refereeId', NEW.`referee_id`,
      'source', NEW.`source`, 'status', NEW.`status`, 'referrerRewarded', json(CASE WHEN NEW.`referrer_rewarded` THEN 'true' ELSE 'false' END),
      'signedUpAt', CASE WHEN NEW.`signed_up_at` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`signed_up_at` / 1000.0, 'unixepoch') END, 'convertedAt', CASE WHEN NEW.`converted_at` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`converted_at` / 1000.0, 'unixepoch') END,
      'conversionPaymentId', NEW.`conversion_payment_id`
    ), CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
--> statement-breakpoint
CREATE TRIGGER `outbox_reward_granted` AFTER INSERT ON `rewards`
BEGIN
  INSERT INTO `outbox_events` (`id`, `type`, `payload`, `created_at`, `next_attempt_at`)
  VALUES ('evt_' || lower(hex(randomblob(16))), 'reward.granted', json_object(
      'rewardId', NEW.`id`, 'userId', NEW.`user_id`, 'referralId', NEW.`referral_id`,
      'type', NEW.`type`, 'amount', NEW.`amount`, 'currency', NEW.`currency`, 'feature', NEW.`feature`,
      'status', NEW.`status`, 'rule', NEW.`rule`, 'trigger', NEW.`trigger`, 'triggerId', NEW.`trigger_id`,
      'validFrom', CASE WHEN NEW.`valid_from` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`valid_from` / 1000.0, 'unixepoch') END, 'validUntil', CASE WHEN NEW.`valid_until` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`valid_until` / 1000.0, 'unixepoch') END
    ), CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
--> statement-breakpoint
-- A conversion reward can be written already revoked (its refund came first): say so too.
CREATE TRIGGER `outbox_reward_granted_revoked` AFTER INSERT ON `rewards` WHEN NEW.`status` = 'revoked'
BEGIN
  INSERT INTO `outbox_events` (`id`, `type`, `payload`, `created_at`, `next_attempt_at`)
  VALUES ('evt_' || lower(hex(randomblob(16))), 'reward.revoked', json_object(
      'rewardId', NEW.`id`, 'userId', NEW.`user_id`, 'referralId', NEW.`referral_id`,
      'type', NEW.`type`, 'amount', NEW.`amount`, 'currency', NEW.`currency`, 'feature', NEW.`feature`,
      'status', NEW.`status`, 'rule', NEW.`rule`, 'trigger', NEW.`trigger`, 'triggerId', NEW.`trigger_id`,
      'validFrom', CASE WHEN NEW.`valid_from` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`valid_from` / 1000.0, 'unixepoch') END, 'validUntil', CASE WHEN NEW.`valid_until` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`valid_until` / 1000.0, 'unixepoch') END
    ), CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
--> statement-breakpoint
CREATE TRIGGER `outbox_reward_revoked` AFTER UPDATE OF `status` ON `rewards`
  WHEN NEW.`status` = 'revoked' AND OLD.`status` <> 'revoked'
BEGIN
  INSERT INTO `outbox_events` (`id`, `type`, `payload`, `created_at`, `next_attempt_at`)
  VALUES ('evt_' || lower(hex(randomblob(16))), 'reward.revoked', json_object(
      'rewardId', NEW.`id`, 'userId', NEW.`user_id`, 'referralId', NEW.`referral_id`,
      'type', NEW.`type`, 'amount', NEW.`amount`, 'currency', NEW.`currency`, 'feature', NEW.`feature`,
      'status', NEW.`status`, 'rule', NEW.`rule`, 'trigger', NEW.`trigger`, 'triggerId', NEW.`trigger_id`,
      'validFrom', CASE WHEN NEW.`valid_from` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`valid_from` / 1000.0, 'unixepoch') END, 'validUntil', CASE WHEN NEW.`valid_until` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`valid_until` / 1000.0, 'unixepoch') END
    ), CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
--> statement-breakpoint
CREATE TRIGGER `outbox_reward_expired` AFTER UPDATE OF `status` ON `rewards`
  WHEN NEW.`status` = 'expired' AND OLD.`status` <> 'expired'
BEGIN
  INSERT INTO `outbox_events` (`id`, `type`, `payload`, `created_at`, `next_attempt_at`)
  VALUES ('evt_' || lower(hex(randomblob(16))), 'reward.expired', json_object(
      'rewardId', NEW.`id`, 'userId', NEW.`user_id`, 'referralId', NEW.`referral_id`,
      'type', NEW.`type`, 'amount', NEW.`amount`, 'currency', NEW.`currency`, 'feature', NEW.`feature`,
      'status', NEW.`status`, 'rule', NEW.`rule`, 'trigger', NEW.`trigger`, 'triggerId', NEW.`trigger_id`,
      'validFrom', CASE WHEN NEW.`valid_from` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`valid_from` / 1000.0, 'unixepoch') END, 'validUntil', CASE WHEN NEW.`valid_until` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`valid_until` / 1000.0, 'unixepoch') END
    ), CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
