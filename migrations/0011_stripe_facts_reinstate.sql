CREATE TABLE `__new_stripe_charges` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`customer_id` text,
	`payment_intent` text,
	`currency` text NOT NULL,
	`amount` integer NOT NULL,
	`amount_refunded` integer NOT NULL,
	`fully_refunded_at` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_stripe_charges`("id", "user_id", "customer_id", "payment_intent", "currency", "amount", "amount_refunded", "fully_refunded_at", "created_at") SELECT "id", "user_id", "customer_id", "payment_intent", "currency", "amount", "amount_refunded", "fully_refunded_at", "created_at" FROM `stripe_charges`;--> statement-breakpoint
DROP TABLE `stripe_charges`;--> statement-breakpoint
ALTER TABLE `__new_stripe_charges` RENAME TO `stripe_charges`;--> statement-breakpoint
CREATE INDEX `stripe_charges_user_idx` ON `stripe_charges` (`user_id`);--> statement-breakpoint
CREATE INDEX `stripe_charges_intent_idx` ON `stripe_charges` (`payment_intent`);--> statement-breakpoint
CREATE TABLE `__new_stripe_payments` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`customer_id` text,
	`payment_intent` text,
	`currency` text NOT NULL,
	`amount` integer NOT NULL,
	`paid_at` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_stripe_payments`("id", "user_id", "customer_id", "payment_intent", "currency", "amount", "paid_at") SELECT "id", "user_id", "customer_id", "payment_intent", "currency", "amount", "paid_at" FROM `stripe_payments`;--> statement-breakpoint
DROP TABLE `stripe_payments`;--> statement-breakpoint
ALTER TABLE `__new_stripe_payments` RENAME TO `stripe_payments`;--> statement-breakpoint
CREATE INDEX `stripe_payments_user_idx` ON `stripe_payments` (`user_id`);--> statement-breakpoint
CREATE INDEX `stripe_payments_intent_idx` ON `stripe_payments` (`payment_intent`);--> statement-breakpoint
ALTER TABLE `rewards` ADD `revoked_at` integer;--> statement-breakpoint
ALTER TABLE `rewards` ADD `revoked_by` text;--> statement-breakpoint
ALTER TABLE `stripe_events` ADD `outcome` text;--> statement-breakpoint
ALTER TABLE `stripe_events` ADD `reason` text;--> statement-breakpoint
ALTER TABLE `stripe_events` ADD `payload` text;--> statement-breakpoint
-- A revocation the Stripe facts no longer support is taken back: the day that
-- counted it counts it no more.
CREATE TRIGGER `reward_daily_on_reinstate` AFTER UPDATE OF `status` ON `rewards`
  WHEN NEW.`amount` > 0 AND OLD.`status` = 'revoked' AND NEW.`status` <> 'revoked'
BEGIN
  UPDATE `reward_daily` SET `revoked` = `revoked` - 1
  WHERE `day` = date(coalesce(OLD.`revoked_at`, OLD.`updated_at`) / 1000, 'unixepoch') AND `type` = NEW.`type`;
END;
--> statement-breakpoint
CREATE TRIGGER `outbox_reward_reinstated` AFTER UPDATE OF `status` ON `rewards`
  WHEN OLD.`status` = 'revoked' AND NEW.`status` <> 'revoked'
BEGIN
  INSERT INTO `outbox_events` (`id`, `type`, `payload`, `created_at`, `next_attempt_at`)
  VALUES ('evt_' || lower(hex(randomblob(16))), 'reward.reinstated', json_object(
      'rewardId', NEW.`id`, 'userId', NEW.`user_id`, 'referralId', NEW.`referral_id`,
      'type', NEW.`type`, 'amount', NEW.`amount`, 'currency', NEW.`currency`, 'feature', NEW.`feature`,
      'status', NEW.`status`, 'rule', NEW.`rule`, 'trigger', NEW.`trigger`, 'triggerId', NEW.`trigger_id`,
      'validFrom', CASE WHEN NEW.`valid_from` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`valid_from` / 1000.0, 'unixepoch') END, 'validUntil', CASE WHEN NEW.`valid_until` IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', NEW.`valid_until` / 1000.0, 'unixepoch') END
    ), CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
--> statement-breakpoint
-- Every revocation so far came from Stripe facts.
UPDATE `rewards` SET `revoked_by` = 'stripe', `revoked_at` = `updated_at` WHERE `status` = 'revoked';
--> statement-breakpoint
-- Deferred events kept whole objects; keep only what the service reads (see stripe/facts.ts).
UPDATE `stripe_deferred_events` SET `payload` = json_remove(`payload`,
  '$.data.object.customer_email', '$.data.object.customer_name', '$.data.object.customer_phone',
  '$.data.object.customer_address', '$.data.object.customer_shipping', '$.data.object.customer_details',
  '$.data.object.billing_details', '$.data.object.shipping', '$.data.object.shipping_details',
  '$.data.object.receipt_email', '$.data.object.lines', '$.data.previous_attributes')
WHERE json_valid(`payload`);
