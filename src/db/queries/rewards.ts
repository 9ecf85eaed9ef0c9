import { and, desc, eq, inArray, isNotNull, lt, lte, or, sql } from "drizzle-orm";
import type { EntitlementEntry } from "../../domain/ledger";
import type { GrantCondition, PlannedGrant } from "../../domain/rules";
import type { BatchItem, Db } from "../client";
import { type RewardStatus, referralCodes, referrals, rewards } from "../schema";

export type RewardRow = typeof rewards.$inferSelect;

function conditionSql(condition: GrantCondition) {
  switch (condition.kind) {
    case "always":
      return sql`1`;
    case "referrer_rewarded":
      return sql`EXISTS (SELECT 1 FROM ${referrals} WHERE ${referrals.id} = ${condition.referralId} AND ${referrals.referrerRewarded} = 1)`;
    case "milestone":
      return sql`(SELECT ${referralCodes.signups} FROM ${referralCodes} WHERE ${referralCodes.userId} = ${condition.referrerId}) >= ${condition.signups}`;
  }
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
  status: RewardStatus = "active",
  revokedBy: string | null = null,
): BatchItem {
  const revoked = status === "revoked";
  return db.run(sql`
    INSERT INTO ${rewards} (id, user_id, referral_id, type, amount, currency, feature, status, rule, "trigger",
      trigger_id, dedupe_key, valid_from, valid_until, created_at, updated_at, revoked_at, revoked_by)
    SELECT ${crypto.randomUUID()}, ${grant.userId}, ${grant.referralId}, ${grant.type}, ${grant.amount},
      ${grant.currency}, ${grant.feature}, ${status}, ${grant.rule}, ${grant.trigger}, ${grant.triggerId},
      ${grant.dedupeKey}, ${grant.validFrom}, ${grant.validUntil}, ${now}, ${now},
      ${revoked ? now : null}, ${revoked ? revokedBy : null}
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
) {
  return db
    .update(rewards)
    .set({
      status: to,
      updatedAt: now,
      ...(to === "revoked" ? { revokedAt: now, revokedBy } : {}),
      ...(from === "revoked" ? { revokedAt: null, revokedBy: null } : {}),
      ...(from === "revoked" && to === "redeemed" ? { redeemedAt: sql`coalesce(${rewards.fulfilledAt}, ${now})` } : {}),
    })
    .where(and(eq(rewards.id, id), eq(rewards.status, from)));
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

/** The active entries of a user: what entitlements are computed from. */
export function activeEntries(db: Db, userId: string): Promise<EntitlementEntry[]> {
  return db
    .select({
      type: rewards.type,
      amount: rewards.amount,
      feature: rewards.feature,
      status: rewards.status,
      validFrom: rewards.validFrom,
      validUntil: rewards.validUntil,
    })
    .from(rewards)
    .where(and(eq(rewards.userId, userId), eq(rewards.status, "active")));
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
        eq(rewards.status, "active"),
        or(sql`${rewards.validUntil} IS NULL`, sql`${rewards.validUntil} > ${now}`),
      ),
    )
    .returning();
  return row;
}

const EXPIRY_CHUNK = 500;

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
