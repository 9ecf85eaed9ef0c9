import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { referralSources } from "../domain/attribution-source";

/**
 * The relational side of the service (D1). Live click counters live in the
 * per-code Durable Object; this is where they land, together with everything
 * that must be queried or joined: codes, referrals, the reward ledger, money.
 *
 * Times are epoch milliseconds; days are UTC `YYYY-MM-DD` strings.
 */

/** One referral code per user of the host product. */
export const referralCodes = sqliteTable(
  "referral_codes",
  {
    code: text("code").primaryKey(),
    userId: text("user_id").notNull(),
    /** Shown on leaderboards only when set: setting it is the user's opt-in. */
    displayName: text("display_name"),
    /** SHA-256 of the normalised email, for self-referral checks; never the address. */
    emailHash: text("email_hash"),
    /** Counters as of the last flush (clicks) or the last write (signups, conversions). */
    clicks: integer("clicks").notNull().default(0),
    uniqueClicks: integer("unique_clicks").notNull().default(0),
    botClicks: integer("bot_clicks").notNull().default(0),
    signups: integer("signups").notNull().default(0),
    conversions: integer("conversions").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    /** The referrer's Stripe promotion code (its customer-facing code is this code), once created. */
    stripePromotionCodeId: text("stripe_promotion_code_id"),
    /** Whether Stripe last reported that promotion code active. */
    stripePromotionCodeActive: integer("stripe_promotion_code_active", { mode: "boolean" }),
    /** The time of the Stripe event `stripePromotionCodeActive` comes from: a later one wins. */
    stripePromotionCodeSeenAt: integer("stripe_promotion_code_seen_at"),
    /** Why the last attempt to create the promotion code failed; the cron retries while it is set. */
    promotionCodeError: text("promotion_code_error"),
    promotionCodeAttemptedAt: integer("promotion_code_attempted_at"),
  },
  (t) => [
    uniqueIndex("referral_codes_user_id_unique").on(t.userId),
    uniqueIndex("referral_codes_promotion_code_unique").on(t.stripePromotionCodeId),
    index("referral_codes_promotion_retry_idx")
      .on(t.promotionCodeAttemptedAt)
      .where(sql`${t.stripePromotionCodeId} IS NULL AND ${t.promotionCodeError} IS NOT NULL`),
    // The leaderboard's order exactly, so a top-N read walks the index and stops.
    index("referral_codes_leaderboard_idx").on(sql`${t.signups} DESC`, sql`${t.conversions} DESC`, t.createdAt),
  ],
);

/**
 * The hot window of the click log: the last CLICK_LOG_HOT_DAYS days of click
 * rows, written by the counters' flush. The whole log is in R2 (CLICK_LOG,
 * see services/click-log.ts). No raw IP is ever stored.
 */
export const clicks = sqliteTable(
  "clicks",
  {
    id: text("id").primaryKey(),
    code: text("code").notNull(),
    clickedAt: integer("clicked_at").notNull(),
    visitorHash: text("visitor_hash").notNull(),
    isBot: integer("is_bot", { mode: "boolean" }).notNull(),
    isUnique: integer("is_unique", { mode: "boolean" }).notNull(),
    country: text("country"),
    referrerHost: text("referrer_host"),
    agentFamily: text("agent_family").notNull(),
  },
  (t) => [index("clicks_code_time_idx").on(t.code, t.clickedAt), index("clicks_time_idx").on(t.clickedAt)],
);

/**
 * Click rows flushed before the R2 log existed (migration 0024). The cron
 * moves them to R2 a chunk at a time and deletes them; empty once it is done.
 */
export const clicksLegacy = sqliteTable("clicks_legacy", {
  id: text("id").primaryKey(),
  code: text("code").notNull(),
  clickedAt: integer("clicked_at").notNull(),
  visitorHash: text("visitor_hash").notNull(),
  isBot: integer("is_bot", { mode: "boolean" }).notNull(),
  isUnique: integer("is_unique", { mode: "boolean" }).notNull(),
  country: text("country"),
  referrerHost: text("referrer_host"),
  agentFamily: text("agent_family").notNull(),
});

/**
 * The details of the click that brought a referee, copied from the click when
 * the attribution is made: a referral's story never needs the raw log.
 */
export const referralClicks = sqliteTable("referral_clicks", {
  referralId: text("referral_id").primaryKey(),
  clickedAt: integer("clicked_at").notNull(),
  country: text("country"),
  referrerHost: text("referrer_host"),
  /** Null when only the token's time was known (the click was past the hot window). */
  agentFamily: text("agent_family"),
});

/**
 * Clicks whose counter object could not be reached when they were made. The
 * cron hands them to their counter once it answers again (which skips the
 * ones that did land), so an outage delays counting instead of losing clicks.
 */
export const clickBacklog = sqliteTable(
  "click_backlog",
  {
    clickId: text("click_id").primaryKey(),
    /** The counter object's name. */
    counter: text("counter").notNull(),
    /** The click as the counter takes it (JSON): code, time, visitor hash, bot flag, country, referrer, agent. */
    click: text("click").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("click_backlog_created_idx").on(t.createdAt)],
);

/**
 * One row per flush batch that reached D1. Inserted in the same atomic batch
 * as the clicks and counter increments it carries, so a retried flush fails on
 * this primary key and applies nothing twice.
 */
export const clickFlushes = sqliteTable("click_flushes", {
  id: text("id").primaryKey(),
  /** The counter object (bucket of codes) that sent the flush. */
  counter: text("counter").notNull(),
  clickCount: integer("click_count").notNull(),
  flushedAt: integer("flushed_at").notNull(),
});

/**
 * The counter objects that may hold clicks D1 does not have yet: each is
 * listed before it learns its first code. `flushed` is the newest of its
 * flushes (numbered by the counter, 1, 2, 3 …) that landed, moved in the same
 * batch as the aggregates that flush adds: reads add what a counter holds
 * beyond it, so a click is in a read once, flushed or not.
 */
export const clickCounters = sqliteTable("click_counters", {
  counter: text("counter").primaryKey(),
  flushed: integer("flushed").notNull().default(0),
  /** 1 while the counter may hold clicks D1 does not have: reads ask only these counters. */
  holding: integer("holding").notNull().default(1),
});

/** Per-code daily aggregates: what charts and time series read. */
export const codeDaily = sqliteTable(
  "code_daily",
  {
    code: text("code").notNull(),
    day: text("day").notNull(),
    clicks: integer("clicks").notNull().default(0),
    uniqueClicks: integer("unique_clicks").notNull().default(0),
    botClicks: integer("bot_clicks").notNull().default(0),
    signups: integer("signups").notNull().default(0),
    conversions: integer("conversions").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.code, t.day] })],
);

/** Program-wide daily aggregates, so totals cost one row per day whatever the traffic. */
export const programDaily = sqliteTable("program_daily", {
  day: text("day").primaryKey(),
  clicks: integer("clicks").notNull().default(0),
  uniqueClicks: integer("unique_clicks").notNull().default(0),
  botClicks: integer("bot_clicks").notNull().default(0),
  signups: integer("signups").notNull().default(0),
  conversions: integer("conversions").notNull().default(0),
});

export const referralStatuses = ["signed_up", "converted"] as const;
export type ReferralStatus = (typeof referralStatuses)[number];

/** A referee attributed to a referrer. A referee is referred at most once. */
export const referrals = sqliteTable(
  "referrals",
  {
    id: text("id").primaryKey(),
    code: text("code").notNull(),
    referrerId: text("referrer_id").notNull(),
    refereeId: text("referee_id").notNull(),
    /** The click that carried the attribution cookie; null when attributed by code alone. */
    clickId: text("click_id"),
    /** The carrier that won (see domain/attribution-source.ts). */
    source: text("source", { enum: referralSources }).notNull(),
    status: text("status", { enum: referralStatuses }).notNull(),
    /** Whether the referrer was rewarded for this signup (false beyond the monthly cap). */
    referrerRewarded: integer("referrer_rewarded", { mode: "boolean" }).notNull().default(false),
    signedUpAt: integer("signed_up_at").notNull(),
    /** When the referee first paid: the converting payment's time, and its Stripe id. */
    convertedAt: integer("converted_at"),
    conversionPaymentId: text("conversion_payment_id"),
    /** When the converting payment was fully refunded in the clawback window, or lost a dispute. */
    clawedBackAt: integer("clawed_back_at"),
    /** When the referee's subscription ended. */
    canceledAt: integer("canceled_at"),
    /** Keyed hash of the referee's email, when the signup gave it: maps a checkout that names no user. */
    refereeEmailHash: text("referee_email_hash"),
    /** When the referee's free trial ends, from the subscription Stripe reported. */
    trialEndsAt: integer("trial_ends_at"),
    /**
     * Why the referral was found to be fraud after it was made:
     * `self_referral_payment` when the referee paid with a card or billing
     * email the referrer had used (see payment_identities).
     */
    fraudReason: text("fraud_reason"),
    /** When that became known from Stripe's facts: the later of the two payments that share it. */
    fraudAt: integer("fraud_at"),
  },
  (t) => [
    uniqueIndex("referrals_referee_id_unique").on(t.refereeId),
    index("referrals_referrer_idx").on(t.referrerId, t.referrerRewarded, t.signedUpAt),
    index("referrals_code_idx").on(t.code),
    // What the per-click limit counts, inside the attribution's batch.
    index("referrals_click_idx").on(t.clickId),
    // bySource: signups and conversions in a range of days, per carrier, read from the index alone.
    index("referrals_signed_up_source_idx").on(t.signedUpAt, t.source),
    index("referrals_converted_source_idx").on(t.convertedAt, t.source),
    index("referrals_referee_email_idx").on(t.refereeEmailHash),
  ],
);

/**
 * Visitor hashes seen for a user of the host product (their own signup, their
 * dashboard): a referee arriving with one of its referrer's hashes is the
 * referrer. Hashes rotate daily, so this matches within a UTC day.
 */
export const userVisitors = sqliteTable(
  "user_visitors",
  {
    userId: text("user_id").notNull(),
    visitorHash: text("visitor_hash").notNull(),
    seenAt: integer("seen_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.visitorHash] }), index("user_visitors_seen_idx").on(t.seenAt)],
);

export const paymentIdentityKinds = ["card", "email"] as const;
export type PaymentIdentityKind = (typeof paymentIdentityKinds)[number];

/**
 * What a payer paid with, as keyed hashes: a card's fingerprint, a billing
 * email. A referee who pays with their referrer's card or email is the
 * referrer (domain/self-referral.ts). Kept for every payer, referred or not,
 * since a referrer's own payment may arrive after their referee's.
 */
export const paymentIdentities = sqliteTable(
  "payment_identities",
  {
    userId: text("user_id").notNull(),
    kind: text("kind", { enum: paymentIdentityKinds }).notNull(),
    /** HMAC with the service's key (VISITOR_SALT) of the fingerprint or the normalised email. */
    hash: text("hash").notNull(),
    /** The earliest payment (Stripe's time) it was seen on: a later sighting never moves it later. */
    seenAt: integer("seen_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.hash, t.userId] }), index("payment_identities_user_idx").on(t.userId)],
);

/** Attribution attempts refused as fraud: recorded, never rewarded. */
export const blockedAttributions = sqliteTable(
  "blocked_attributions",
  {
    id: text("id").primaryKey(),
    code: text("code").notNull(),
    refereeId: text("referee_id").notNull(),
    reason: text("reason").notNull(),
    /** The click whose token was offered, when one was: tells a reused link apart (same_click). */
    clickId: text("click_id"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("blocked_attributions_code_idx").on(t.code, t.createdAt)],
);

export const rewardTypes = ["extra_messages", "extra_requests", "account_credit", "feature_unlock"] as const;
export type RewardType = (typeof rewardTypes)[number];

export const rewardStatuses = ["pending", "active", "redeemed", "expired", "revoked"] as const;
export type RewardStatus = (typeof rewardStatuses)[number];

/**
 * The reward ledger. Entries are never deleted: a clawback is a status change
 * or a new (negative) entry. `dedupeKey` makes every grant happen once.
 */
export const rewards = sqliteTable(
  "rewards",
  {
    id: text("id").primaryKey(),
    userId: text("user_id").notNull(),
    referralId: text("referral_id"),
    /** A reward type named in the rules (`extra_messages`, `account_credit`, …). */
    type: text("type").notNull(),
    /** Units of the type: messages, requests, cents; 1 for a feature unlock. */
    amount: integer("amount").notNull(),
    currency: text("currency"),
    feature: text("feature"),
    status: text("status", { enum: rewardStatuses }).notNull(),
    /** Which configured rule granted it, and what triggered it. */
    rule: text("rule").notNull(),
    trigger: text("trigger").notNull(),
    triggerId: text("trigger_id"),
    dedupeKey: text("dedupe_key").notNull(),
    validFrom: integer("valid_from").notNull(),
    validUntil: integer("valid_until"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    redeemedAt: integer("redeemed_at"),
    /** Set when the reward was applied outside the ledger (a Stripe customer balance credit). */
    fulfilledAt: integer("fulfilled_at"),
    externalRef: text("external_ref"),
    /** When the entry was last revoked: a reinstatement takes the revocation back from that day's count. */
    revokedAt: integer("revoked_at"),
    /**
     * Who revoked it: `stripe` when the Stripe facts did (a refund, a lost
     * dispute), so facts that stop applying reinstate it; anything else is final.
     */
    revokedBy: text("revoked_by"),
    /**
     * When a pending entry waiting out its rule's holding period becomes
     * usable: it counts as active from then on, before the cron moves it.
     * Null when it is pending for another reason (a dispute, an operator's hold).
     */
    availableAt: integer("available_at"),
    /** The options (JSON array) the referrer picks from; null for an ordinary entry. */
    choices: text("choices"),
    /** After this time the cron takes the first option. */
    chooseBy: integer("choose_by"),
    /** The option taken; set once. */
    choice: text("choice"),
    /**
     * The entry whose chosen option was a bundle: this entry is one of the
     * bundle's further rewards (the entry itself became the first) and shares
     * its fate, so a refund, clawback or revocation of it takes this back too.
     */
    bundleOf: text("bundle_of"),
  },
  (t) => [
    uniqueIndex("rewards_dedupe_key_unique").on(t.dedupeKey),
    index("rewards_user_idx").on(t.userId, t.createdAt, t.id),
    index("rewards_user_status_idx").on(t.userId, t.status),
    index("rewards_expiry_idx").on(t.status, t.validUntil),
    index("rewards_referral_idx").on(t.referralId),
    index("rewards_available_idx").on(t.status, t.availableAt),
    index("rewards_choose_by_idx").on(t.status, t.chooseBy),
    index("rewards_bundle_of_idx").on(t.bundleOf).where(sql`${t.bundleOf} IS NOT NULL`),
  ],
);

/**
 * Reward activity per day and type, kept by SQLite triggers on `rewards`
 * (migration 0004): whatever code path grants or moves an entry, the counts
 * follow in the same statement. Debt entries (negative amounts) are not counted.
 */
export const rewardDaily = sqliteTable(
  "reward_daily",
  {
    day: text("day").notNull(),
    type: text("type").notNull(),
    granted: integer("granted").notNull().default(0),
    redeemed: integer("redeemed").notNull().default(0),
    expired: integer("expired").notNull().default(0),
    revoked: integer("revoked").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.day, t.type] })],
);

export const outboxEventTypes = [
  "referral.signed_up",
  "referral.converted",
  "reward.granted",
  "reward.revoked",
  "reward.expired",
  "reward.reinstated",
] as const;

/**
 * Events for the host product, written by SQLite triggers on `referrals` and
 * `rewards` (migration 0009) in the same statement as the change they report,
 * so an event exists exactly when its change committed. Delivered at least
 * once by the EventOutbox object; the id lets the receiver dedupe.
 */
export const outboxEvents = sqliteTable(
  "outbox_events",
  {
    /**
     * Commit order: assigned by SQLite as the trigger inserts the row, strictly
     * increasing and never reused (AUTOINCREMENT). Delivery follows it, and
     * receivers reorder by it (a retried event can arrive after later ones).
     */
    sequence: integer("sequence").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    type: text("type", { enum: outboxEventTypes }).notNull(),
    /** The event's data, JSON. */
    payload: text("payload").notNull(),
    createdAt: integer("created_at").notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    deliveredAt: integer("delivered_at"),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
  },
  (t) => [
    uniqueIndex("outbox_events_id_unique").on(t.id),
    index("outbox_events_due_idx").on(t.deliveredAt, t.nextAttemptAt),
    index("outbox_events_created_idx").on(t.createdAt),
  ],
);

/**
 * Stripe events whose effects were applied; inserted in the same batch as the
 * effects. A signed event the service cannot read is kept here too, with the
 * reason and its payload (personal fields removed), for the operator.
 */
export const stripeEvents = sqliteTable("stripe_events", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  processedAt: integer("processed_at").notNull(),
  /** `unprocessable` for a signed event whose shape the service cannot read; null otherwise. */
  outcome: text("outcome"),
  reason: text("reason"),
  payload: text("payload"),
});

/** A referee's payment: a paid invoice, or a paid one-off checkout session. */
export const stripePayments = sqliteTable(
  "stripe_payments",
  {
    id: text("id").primaryKey(),
    userId: text("user_id").notNull(),
    /** Null for a one-off checkout that created no customer: the payment intent ties its refunds to it. */
    customerId: text("customer_id"),
    paymentIntent: text("payment_intent"),
    currency: text("currency").notNull(),
    amount: integer("amount").notNull(),
    paidAt: integer("paid_at").notNull(),
  },
  (t) => [index("stripe_payments_user_idx").on(t.userId), index("stripe_payments_intent_idx").on(t.paymentIntent)],
);

/** A referee's charge as last seen by a refund event: refunds only ever grow. */
export const stripeCharges = sqliteTable(
  "stripe_charges",
  {
    id: text("id").primaryKey(),
    userId: text("user_id").notNull(),
    customerId: text("customer_id"),
    paymentIntent: text("payment_intent"),
    currency: text("currency").notNull(),
    amount: integer("amount").notNull(),
    amountRefunded: integer("amount_refunded").notNull(),
    fullyRefundedAt: integer("fully_refunded_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("stripe_charges_user_idx").on(t.userId), index("stripe_charges_intent_idx").on(t.paymentIntent)],
);

/** Disputes, with the user once their charge is known. */
export const stripeDisputes = sqliteTable(
  "stripe_disputes",
  {
    id: text("id").primaryKey(),
    chargeId: text("charge_id").notNull(),
    paymentIntent: text("payment_intent"),
    userId: text("user_id"),
    status: text("status").notNull(),
    /** The event time of `status`: a later event wins, whatever the delivery order. */
    statusAt: integer("status_at").notNull(),
  },
  (t) => [
    index("stripe_disputes_charge_idx").on(t.chargeId),
    index("stripe_disputes_intent_idx").on(t.paymentIntent),
    index("stripe_disputes_user_idx").on(t.userId),
  ],
);

/** Events about a customer not yet mapped to a user (an invoice before its checkout). */
export const stripeDeferredEvents = sqliteTable(
  "stripe_deferred_events",
  {
    eventId: text("event_id").primaryKey(),
    customerId: text("customer_id").notNull(),
    payload: text("payload").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [index("stripe_deferred_customer_idx").on(t.customerId)],
);

/**
 * Optimistic locks for Stripe processing: an event that read a subject (a
 * customer, a user, a charge) at version v inserts (subject, v + 1) in its
 * batch. A concurrent event that read the same version fails on this key,
 * rolls back, and recomputes from the newer state.
 */
export const stripeGuards = sqliteTable(
  "stripe_guards",
  {
    subject: text("subject").notNull(),
    version: integer("version").notNull(),
    eventId: text("event_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.subject, t.version] })],
);

/** Revenue from referees per payment day and currency, in minor units. */
export const revenueDaily = sqliteTable(
  "revenue_daily",
  {
    day: text("day").notNull(),
    currency: text("currency").notNull(),
    gross: integer("gross").notNull().default(0),
    refunded: integer("refunded").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.day, t.currency] })],
);

/** Which host user a Stripe customer is. */
export const stripeCustomers = sqliteTable(
  "stripe_customers",
  {
    customerId: text("customer_id").primaryKey(),
    userId: text("user_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("stripe_customers_user_idx").on(t.userId)],
);

export const adminActions = ["reward.revoke", "reward.hold", "reward.release", "reward.grant"] as const;
export type AdminAction = (typeof adminActions)[number];

/**
 * What operators did in the console: one row per ledger action, written in
 * the same batch as the change it records, with the operator's note.
 */
export const adminAudit = sqliteTable(
  "admin_audit",
  {
    id: text("id").primaryKey(),
    /** The operator: an admin key's fingerprint, or the email Cloudflare Access vouched for. */
    actor: text("actor").notNull(),
    action: text("action", { enum: adminActions }).notNull(),
    rewardId: text("reward_id"),
    userId: text("user_id").notNull(),
    note: text("note").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("admin_audit_user_idx").on(t.userId, t.createdAt)],
);
