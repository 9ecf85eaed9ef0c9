import { and, eq, sql } from "drizzle-orm";
import type { BatchItem, Db } from "../client";
import { blockedAttributions, codeDaily, programDaily, referralCodes, referrals, userVisitors } from "../schema";

export type ReferralRow = typeof referrals.$inferSelect;
export type NewReferral = Omit<typeof referrals.$inferInsert, "referrerRewarded">;

export function findReferralByReferee(db: Db, refereeId: string): Promise<ReferralRow | undefined> {
  return db.select().from(referrals).where(eq(referrals.refereeId, refereeId)).get();
}

/**
 * Inserts the referral, deciding `referrer_rewarded` from the referrer's
 * rewarded referrals this month at the moment the batch runs. A second
 * referral for the same referee violates its unique key and fails the batch.
 *
 * A referral carried by a click also fails the batch once that click has
 * credited `maxPerClick` referees: D1 runs one batch at a time, so the count
 * it reads is exact under any concurrency. SQLite cannot raise an error from a
 * plain INSERT, so the refusal is a NULL `source` (a NOT NULL column): the
 * whole batch, grants and counters included, rolls back.
 */
export function insertReferralStatement(
  db: Db,
  referral: NewReferral,
  cap: { cap: number; monthStart: number; monthEnd: number },
  maxPerClick: number,
): BatchItem {
  const source = referral.clickId
    ? sql`CASE WHEN (SELECT count(*) FROM ${referrals} WHERE click_id = ${referral.clickId}) < ${maxPerClick}
        THEN ${referral.source} END`
    : sql`${referral.source}`;
  return db.run(sql`
    INSERT INTO ${referrals} (id, code, referrer_id, referee_id, click_id, source, status, referrer_rewarded, signed_up_at,
      referee_email_hash)
    VALUES (${referral.id}, ${referral.code}, ${referral.referrerId}, ${referral.refereeId}, ${referral.clickId ?? null},
      ${source}, ${referral.status}, (
        SELECT count(*) < ${cap.cap} FROM ${referrals}
        WHERE referrer_id = ${referral.referrerId} AND referrer_rewarded = 1
          AND signed_up_at >= ${cap.monthStart} AND signed_up_at < ${cap.monthEnd}
      ), ${referral.signedUpAt}, ${referral.refereeEmailHash ?? null})
    RETURNING *`);
}

/** A referral as D1 returns it from raw SQL (snake_case), as drizzle would give it. */
export function referralFromRaw(raw: Record<string, unknown>): ReferralRow {
  return {
    id: raw.id as string,
    code: raw.code as string,
    referrerId: raw.referrer_id as string,
    refereeId: raw.referee_id as string,
    clickId: raw.click_id as string | null,
    source: raw.source as ReferralRow["source"],
    status: raw.status as ReferralRow["status"],
    referrerRewarded: raw.referrer_rewarded === 1 || raw.referrer_rewarded === true,
    signedUpAt: raw.signed_up_at as number,
    convertedAt: raw.converted_at as number | null,
    conversionPaymentId: raw.conversion_payment_id as string | null,
    clawedBackAt: raw.clawed_back_at as number | null,
    canceledAt: raw.canceled_at as number | null,
    refereeEmailHash: (raw.referee_email_hash ?? null) as string | null,
    trialEndsAt: (raw.trial_ends_at ?? null) as number | null,
    fraudReason: (raw.fraud_reason ?? null) as string | null,
    fraudAt: (raw.fraud_at ?? null) as number | null,
  };
}

type Counter = "signups" | "conversions";

/**
 * Adds `delta` (default +1) to a code's counter and to the per-code and program
 * daily aggregates; `total: false` moves a count between days, leaving the code's total.
 */
export function bumpCounterStatements(
  db: Db,
  code: string,
  day: string,
  counter: Counter,
  { delta = 1, total = true }: { delta?: number; total?: boolean } = {},
): BatchItem[] {
  const column = { signups: referralCodes.signups, conversions: referralCodes.conversions }[counter];
  const daily = { signups: codeDaily.signups, conversions: codeDaily.conversions }[counter];
  const program = { signups: programDaily.signups, conversions: programDaily.conversions }[counter];
  return [
    ...(total
      ? [
          db
            .update(referralCodes)
            .set({ [counter]: sql`${column} + ${delta}` })
            .where(eq(referralCodes.code, code)),
        ]
      : []),
    db
      .insert(codeDaily)
      .values({ code, day, [counter]: delta })
      .onConflictDoUpdate({ target: [codeDaily.code, codeDaily.day], set: { [counter]: sql`${daily} + ${delta}` } }),
    db
      .insert(programDaily)
      .values({ day, [counter]: delta })
      .onConflictDoUpdate({ target: programDaily.day, set: { [counter]: sql`${program} + ${delta}` } }),
  ];
}

export function recordVisitorStatement(db: Db, userId: string, visitorHash: string, now: number): BatchItem {
  return db
    .insert(userVisitors)
    .values({ userId, visitorHash, seenAt: now })
    .onConflictDoUpdate({ target: [userVisitors.userId, userVisitors.visitorHash], set: { seenAt: now } });
}

export async function isUserVisitor(db: Db, userId: string, visitorHash: string): Promise<boolean> {
  const row = await db
    .select({ userId: userVisitors.userId })
    .from(userVisitors)
    .where(and(eq(userVisitors.userId, userId), eq(userVisitors.visitorHash, visitorHash)))
    .get();
  return row !== undefined;
}

/** How many referees a click has credited. */
export async function refereesOfClick(db: Db, clickId: string): Promise<number> {
  const row = await db.select({ n: sql<number>`count(*)` }).from(referrals).where(eq(referrals.clickId, clickId)).get();
  return row?.n ?? 0;
}

export async function recordBlockedAttribution(
  db: Db,
  attempt: { code: string; refereeId: string; reason: string; clickId?: string | null },
  now: number,
): Promise<void> {
  await db.insert(blockedAttributions).values({ id: crypto.randomUUID(), ...attempt, createdAt: now });
}
