import { and, desc, eq, inArray, isNotNull, isNull, lt, lte, ne, or, sql } from "drizzle-orm";
import { type BundleTakeBack, bundleKey, furtherRewards } from "../../domain/bundles";
import type { RewardAction } from "../../domain/conversion";
import type { EntitlementEntry } from "../../domain/ledger";
import { REVOKED_BY_STRIPE } from "../../domain/ledger";
import type { ChoiceOffer, GrantCondition, PlannedGrant } from "../../domain/rules";
import type { BatchItem, Db } from "../client";
import { type RewardStatus, referralCodes, referrals, rewards } from "../schema";

export type RewardRow = typeof rewards.$inferSelect;

function conditionSql(condition: GrantCondition) {
  switch (condition.kind) {
    case "always":
      return sql`1`;
    case "referrer_rewarded":
      return sql`EXISTS (SELECT 1 FROM ${referrals} WHERE ${referrals.id} = ${condition.referralId} AND ${referrals.referrerRewarded} = 1)`;
    case "conversion_cap":
      // Counted from the stored rows inside the batch that grants, so two conversions in any order never both pass.
      return sql`(SELECT count(*) FROM ${referrals} WHERE referrer_id = ${condition.referrerId}
        AND id <> ${condition.referralId}
        AND converted_at >= ${condition.monthStart} AND converted_at < ${condition.monthEnd}
        AND EXISTS (SELECT 1 FROM ${rewards} AS granted WHERE granted.referral_id = ${referrals}.id
          AND granted.user_id = ${condition.referrerId} AND granted."trigger" = 'conversion')) < ${condition.cap}`;
    case "milestone":
      return sql`(SELECT ${referralCodes.signups} FROM ${referralCodes} WHERE ${referralCodes.userId} = ${condition.referrerId}) >= ${condition.signups}`;
    case "qualified":
      return sql`(${qualifiedCountSql(condition.referrerId, condition.convertedBy)}) >= ${condition.count}`;
  }
}

/** How many of the referrer's referrals converted by `convertedBy` and were not clawed back. */
function qualifiedCountSql(referrerId: string, convertedBy: number, except?: string) {
  return sql`SELECT count(*) FROM ${referrals} WHERE ${referrals.referrerId} = ${referrerId}
    AND ${referrals.convertedAt} IS NOT NULL AND ${referrals.convertedAt} <= ${convertedBy}
    AND ${referrals.clawedBackAt} IS NULL${except === undefined ? sql`` : sql` AND ${referrals.id} <> ${except}`}`;
}

export async function qualifiedCount(db: Db, referrerId: string, convertedBy: number, except?: string) {
  const row = await db.get<[number]>(sql`${qualifiedCountSql(referrerId, convertedBy, except)}`);
  return Number(Array.isArray(row) ? row[0] : Object.values(row as object)[0]);
}

/** A referrer's milestone entries and their debts, for the given milestone rules. */
export function milestoneEntries(db: Db, userId: string, rules: readonly string[]) {
  if (rules.length === 0) return Promise.resolve([]);
  return db
    .select()
    .from(rewards)
    .where(
      and(
        eq(rewards.userId, userId),
        inArray(rewards.rule, [...rules]),
        inArray(rewards.trigger, ["milestone", "clawback"]),
      ),
    );
}

/**
 * A grant as one statement: inserted only if its condition holds when the
 * batch runs (so caps and milestones are exact under concurrency) and only
 * once (its dedupe key is unique).
 */
export function grantStatement(
  db: Db,
  grant: PlannedGrant,
  now: number,
  status: RewardStatus = grant.availableAt !== null ? "pending" : "active",
  revokedBy: string | null = null,
): BatchItem {
  const revoked = status === "revoked";
  // Only an entry waiting out its hold carries the date it becomes usable (see schema).
  const availableAt = status === "pending" ? grant.availableAt : null;
  return db.run(sql`
    INSERT INTO ${rewards} (id, user_id, referral_id, type, amount, currency, feature, status, rule, "trigger",
      trigger_id, dedupe_key, valid_from, valid_until, created_at, updated_at, revoked_at, revoked_by, available_at,
      choices, choose_by, bundle_of)
    SELECT ${crypto.randomUUID()}, ${grant.userId}, ${grant.referralId}, ${grant.type}, ${grant.amount},
      ${grant.currency}, ${grant.feature}, ${status}, ${grant.rule}, ${grant.trigger}, ${grant.triggerId},
      ${grant.dedupeKey}, ${grant.validFrom}, ${grant.validUntil}, ${now}, ${now},
      ${revoked ? now : null}, ${revoked ? revokedBy : null}, ${availableAt}, ${grant.choices ?? null},
      ${grant.chooseBy ?? null}, ${grant.bundleOf ?? null}
    WHERE ${conditionSql(grant.condition)}
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING *`);
}

/** A ledger row as D1 returns it from raw SQL (snake_case), as drizzle would give it. */
export function rewardFromRaw(raw: Record<string, unknown>): RewardRow {
  return {
    id: raw.id as string,
    userId: raw.user_id as string,
    referralId: raw.referral_id as string | null,
    type: raw.type as string,
    amount: raw.amount as number,
    currency: raw.currency as string | null,
    feature: raw.feature as string | null,
    status: raw.status as RewardRow["status"],
    rule: raw.rule as string,
    trigger: raw.trigger as string,
    triggerId: raw.trigger_id as string | null,
    dedupeKey: raw.dedupe_key as string,
    validFrom: raw.valid_from as number,
    validUntil: raw.valid_until as number | null,
    createdAt: raw.created_at as number,
    updatedAt: raw.updated_at as number,
    redeemedAt: raw.redeemed_at as number | null,
    fulfilledAt: raw.fulfilled_at as number | null,
    externalRef: raw.external_ref as string | null,
    revokedAt: raw.revoked_at as number | null,
    revokedBy: raw.revoked_by as string | null,
    availableAt: (raw.available_at as number | null) ?? null,
    choices: (raw.choices as string | null) ?? null,
    chooseBy: (raw.choose_by as number | null) ?? null,
    choice: (raw.choice as string | null) ?? null,
    bundleOf: (raw.bundle_of as string | null) ?? null,
  };
}

/**
 * The debt entry that takes back a reward already spent: the same type and
 * amount, negative, never edited into the spent entry. Once per reward (its
 * dedupe key is the reward's with `:clawback`).
 */
export function clawbackStatement(
  db: Db,
  reward: Pick<
    RewardRow,
    "id" | "userId" | "referralId" | "rule" | "type" | "amount" | "currency" | "triggerId" | "dedupeKey"
  >,
  now: number,
): BatchItem {
  return grantStatement(
    db,
    {
      userId: reward.userId,
      referralId: reward.referralId ?? reward.id,
      role: "referrer",
      rule: reward.rule,
      type: reward.type,
      amount: -reward.amount,
      currency: reward.currency,
      feature: null,
      trigger: "clawback",
      triggerId: reward.triggerId ?? reward.id,
      dedupeKey: `${reward.dedupeKey}:clawback`,
      validFrom: now,
      validUntil: null,
      availableAt: null,
      condition: { kind: "always" },
    },
    now,
  );
}

export function grantStatements(db: Db, grants: readonly PlannedGrant[], now: number): BatchItem[] {
  return grants.map((grant) => grantStatement(db, grant, now));
}

/**
 * Moves an entry from one status to another; a no-op if it is no longer in
 * `from`. A revocation records when and by whom (`revokedBy`); leaving
 * `revoked` (a reinstatement) clears both.
 */
export function setRewardStatusStatement(
  db: Db,
  id: string,
  from: RewardStatus,
  to: RewardStatus,
  now: number,
  revokedBy: string | null = null,
  availableAt: number | null = null,
) {
  return db
    .update(rewards)
    .set({
      status: to,
      updatedAt: now,
      // Pending for a dispute or an operator's hold waits indefinitely; pending for a holding period until its end.
      ...(to === "pending" ? { availableAt } : {}),
      ...(to === "revoked" ? { revokedAt: now, revokedBy } : {}),
      ...(from === "revoked" ? { revokedAt: null, revokedBy: null } : {}),
      ...(from === "revoked" && to === "redeemed" ? { redeemedAt: sql`coalesce(${rewards.fulfilledAt}, ${now})` } : {}),
    })
    .where(and(eq(rewards.id, id), eq(rewards.status, from)));
}

/** One step of taking a bundle back (see takeBackBundle): a revocation by `revokedBy`, or a debt. */
export function takeBackStatement(db: Db, action: BundleTakeBack<RewardRow>, now: number, revokedBy: string) {
  return action.kind === "revoke"
    ? setRewardStatusStatement(db, action.id, action.from, "revoked", now, revokedBy)
    : clawbackStatement(db, action.entry, now);
}

export function rewardsByDedupeKeys(db: Db, keys: readonly string[]) {
  if (keys.length === 0) return Promise.resolve([]);
  return db
    .select({
      id: rewards.id,
      dedupeKey: rewards.dedupeKey,
      status: rewards.status,
      triggerId: rewards.triggerId,
      revokedBy: rewards.revokedBy,
      fulfilledAt: rewards.fulfilledAt,
      amount: rewards.amount,
      availableAt: rewards.availableAt,
      choices: rewards.choices,
      choice: rewards.choice,
    })
    .from(rewards)
    .where(inArray(rewards.dedupeKey, [...keys]));
}

export interface PageCursor {
  createdAt: number;
  id: string;
}

/** A user's entries, newest first, `limit` at a time after `cursor`. */
export function listRewards(db: Db, userId: string, limit: number, cursor?: PageCursor): Promise<RewardRow[]> {
  const after = cursor
    ? or(
        lt(rewards.createdAt, cursor.createdAt),
        and(eq(rewards.createdAt, cursor.createdAt), lt(rewards.id, cursor.id)),
      )
    : undefined;
  return db
    .select()
    .from(rewards)
    .where(and(eq(rewards.userId, userId), after))
    .orderBy(desc(rewards.createdAt), desc(rewards.id))
    .limit(limit);
}

/** Pending entries usable at `now`: past their hold, with their option taken if they offer one. */
const usableWhilePending = (now: number) =>
  sql`(${rewards.status} = 'pending' AND ${rewards.availableAt} IS NOT NULL AND ${rewards.availableAt} <= ${now}
    AND (${rewards.choices} IS NULL OR ${rewards.choice} IS NOT NULL))`;

/** The active entries of a user, and pending ones past their hold: what entitlements are computed from. */
export function activeEntries(db: Db, userId: string, now: number): Promise<EntitlementEntry[]> {
  return db
    .select({
      type: rewards.type,
      amount: rewards.amount,
      feature: rewards.feature,
      status: rewards.status,
      validFrom: rewards.validFrom,
      validUntil: rewards.validUntil,
      availableAt: rewards.availableAt,
      choices: rewards.choices,
      choice: rewards.choice,
    })
    .from(rewards)
    .where(
      and(
        eq(rewards.userId, userId),
        or(eq(rewards.status, "active"), and(eq(rewards.status, "pending"), usableWhilePending(now))),
      ),
    );
}

export function findReward(db: Db, id: string): Promise<RewardRow | undefined> {
  return db.select().from(rewards).where(eq(rewards.id, id)).get();
}

/** Marks an active, unexpired entry redeemed; undefined when it was not in that state. */
export async function redeemReward(db: Db, id: string, now: number): Promise<RewardRow | undefined> {
  const [row] = await db
    .update(rewards)
    .set({ status: "redeemed", redeemedAt: now, updatedAt: now })
    .where(
      and(
        eq(rewards.id, id),
        or(eq(rewards.status, "active"), usableWhilePending(now)),
        or(sql`${rewards.validUntil} IS NULL`, sql`${rewards.validUntil} > ${now}`),
      ),
    )
    .returning();
  return row;
}

const EXPIRY_CHUNK = 500;

/**
 * Moves pending entries whose hold has ended to `active`, in chunks; returns
 * how many moved. Idempotent: an entry moves only from `pending`, once, and
 * entitlements already counted it from `availableAt`.
 */
export async function activateHeldRewards(db: Db, now: number): Promise<number> {
  let total = 0;
  for (;;) {
    const due = db.select({ id: rewards.id }).from(rewards).where(usableWhilePending(now)).limit(EXPIRY_CHUNK);
    const moved = await db
      .update(rewards)
      .set({ status: "active", updatedAt: now })
      .where(and(inArray(rewards.id, due), usableWhilePending(now)))
      .returning({ id: rewards.id });
    total += moved.length;
    if (moved.length < EXPIRY_CHUNK) return total;
  }
}

/** Moves entries past their end to `expired`, in chunks; returns how many moved. */
export async function expireRewards(db: Db, now: number): Promise<number> {
  const expirable: RewardStatus[] = ["active", "pending"];
  let total = 0;
  for (;;) {
    const due = db
      .select({ id: rewards.id })
      .from(rewards)
      .where(and(inArray(rewards.status, expirable), isNotNull(rewards.validUntil), lte(rewards.validUntil, now)))
      .limit(EXPIRY_CHUNK);
    const moved = await db
      .update(rewards)
      .set({ status: "expired", updatedAt: now })
      .where(and(inArray(rewards.id, due), inArray(rewards.status, expirable)))
      .returning({ id: rewards.id });
    total += moved.length;
    if (moved.length < EXPIRY_CHUNK) return total;
  }
}

/**
 * The statements that carry out what the Stripe facts ask of the ledger (see
 * conversionRewardActions): grants, status moves, debts and retargets.
 */
export function rewardActionStatements(db: Db, actions: readonly RewardAction[], now: number): BatchItem[] {
  return actions.map((action) => {
    if (action.kind === "insert") return grantStatement(db, action.grant, now, action.status, REVOKED_BY_STRIPE);
    if (action.kind === "debt") return grantStatement(db, action.grant, now);
    if (action.kind === "set_status") {
      return setRewardStatusStatement(
        db,
        action.id,
        action.from,
        action.to,
        now,
        REVOKED_BY_STRIPE,
        action.availableAt,
      );
    }
    return db
      .update(rewards)
      .set({
        triggerId: action.grant.triggerId,
        // A chosen option is the entry's reward now: only its dates move.
        amount: sql`CASE WHEN ${rewards.choice} IS NULL THEN ${action.grant.amount} ELSE ${rewards.amount} END`,
        validFrom: action.grant.validFrom,
        validUntil: sql`CASE WHEN ${rewards.choice} IS NULL THEN ${action.grant.validUntil} ELSE ${rewards.validUntil} END`,
        choices: sql`CASE WHEN ${rewards.choice} IS NULL THEN ${action.grant.choices ?? null} ELSE ${rewards.choices} END`,
        // The hold moves with the payment; an entry pending for a dispute keeps waiting.
        availableAt: sql`CASE WHEN ${rewards.availableAt} IS NULL THEN NULL ELSE ${action.grant.availableAt} END`,
        updatedAt: now,
      })
      .where(and(eq(rewards.id, action.id), ne(rewards.status, "redeemed")));
  });
}

/** A referral's entries (and their debts) made by the given rules. */
export function rewardsOfReferralRules(db: Db, referralId: string, rules: readonly string[]) {
  if (rules.length === 0) return Promise.resolve([]);
  return db
    .select()
    .from(rewards)
    .where(and(eq(rewards.referralId, referralId), inArray(rewards.rule, [...rules])));
}

/**
 * Takes an option for an entry awaiting the referrer's choice: the entry
 * becomes that reward (a bundle's first), active (or still pending until its
 * hold ends, or while a dispute holds it), and each further reward of a
 * bundle is inserted as an entry of its own, copying the entry's referral,
 * trigger, start, status and hold. The update is guarded on `choice IS NULL`
 * and each insert on the entry now carrying this choice (and on its unique
 * dedupe key), so in one D1 batch, of concurrent calls exactly one changes
 * the ledger and the others change nothing.
 */
export function chooseStatements(db: Db, id: string, offer: ChoiceOffer, now: number): BatchItem[] {
  const entry = db
    .update(rewards)
    .set({
      choice: offer.id,
      type: offer.type,
      amount: offer.amount,
      currency: offer.currency,
      feature: offer.feature,
      validUntil: offer.validUntil,
      status: sql`CASE WHEN ${rewards.availableAt} IS NOT NULL AND ${rewards.availableAt} <= ${now} THEN 'active' ELSE 'pending' END`,
      updatedAt: now,
    })
    .where(and(eq(rewards.id, id), eq(rewards.status, "pending"), isNull(rewards.choice), isNotNull(rewards.choices)));
  const further = furtherRewards(offer).map((reward, i) =>
    db.run(sql`
      INSERT INTO ${rewards} (id, user_id, referral_id, type, amount, currency, feature, status, rule, "trigger",
        trigger_id, dedupe_key, valid_from, valid_until, created_at, updated_at, available_at, bundle_of)
      SELECT ${crypto.randomUUID()}, chosen.user_id, chosen.referral_id, ${reward.type}, ${reward.amount},
        ${reward.currency}, ${reward.feature}, chosen.status, chosen.rule, chosen."trigger", chosen.trigger_id,
        chosen.dedupe_key || ${bundleKey("", i + 1)}, chosen.valid_from, ${reward.validUntil}, ${now}, ${now},
        chosen.available_at, chosen.id
      FROM ${rewards} AS chosen
      WHERE chosen.id = ${id} AND chosen.choice = ${offer.id} AND chosen.status IN ('pending', 'active')
      ON CONFLICT (dedupe_key) DO NOTHING`),
  );
  return [entry, ...further];
}

/** The further entries of the bundles chosen on these entries, and the debts of any of them. */
export function bundleEntries(db: Db, entryIds: readonly string[]): Promise<RewardRow[]> {
  if (entryIds.length === 0) return Promise.resolve([]);
  const ids = [...entryIds];
  return db
    .select()
    .from(rewards)
    .where(
      or(
        inArray(rewards.bundleOf, ids),
        inArray(
          rewards.dedupeKey,
          db
            .select({ key: sql<string>`${rewards.dedupeKey} || ':clawback'` })
            .from(rewards)
            .where(inArray(rewards.bundleOf, ids)),
        ),
      ),
    )
    .orderBy(rewards.dedupeKey);
}

/**
 * Moves the further entries of a bundle along with its entry (an operator's
 * hold or release): those still in `from` go to `to`, only if the entry
 * itself is now in `to`, in the same batch.
 */
export function moveBundleStatement(db: Db, entryId: string, from: RewardStatus, to: RewardStatus, now: number) {
  return db
    .update(rewards)
    .set({ status: to, updatedAt: now, ...(to === "pending" ? { availableAt: null } : {}) })
    .where(
      and(
        eq(rewards.bundleOf, entryId),
        eq(rewards.status, from),
        sql`EXISTS (SELECT 1 FROM ${rewards} AS chosen WHERE chosen.id = ${entryId} AND chosen.status = ${to})`,
      ),
    );
}

/** A user's entries waiting for them to choose, the soonest due first. */
export function awaitingChoice(db: Db, userId: string, limit: number): Promise<RewardRow[]> {
  return db
    .select()
    .from(rewards)
    .where(
      and(
        eq(rewards.userId, userId),
        eq(rewards.status, "pending"),
        isNotNull(rewards.choices),
        isNull(rewards.choice),
      ),
    )
    .orderBy(rewards.chooseBy, rewards.id)
    .limit(limit);
}

/** Entries whose time to choose has run out, `limit` at a time. */
export function choicesDue(db: Db, now: number, limit: number) {
  return db
    .select({ id: rewards.id, referralId: rewards.referralId, choices: rewards.choices })
    .from(rewards)
    .where(
      and(
        eq(rewards.status, "pending"),
        isNull(rewards.choice),
        isNotNull(rewards.choices),
        lte(rewards.chooseBy, now),
      ),
    )
    .limit(limit);
}
