import { and, asc, desc, eq, gte, inArray, lt, lte, or, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import {
  adminAudit,
  blockedAttributions,
  outboxEvents,
  programDaily,
  referralClicks,
  referralCodes,
  referrals,
  rewards,
  stripeCharges,
  stripeDeferredEvents,
  stripeDisputes,
  stripeEvents,
  stripePayments,
} from "../db/schema";

/**
 * The console's reads. Each list is bounded (a page of `limit` + 1 rows, to
 * know whether there is a next page) and walks an index; charts read the
 * daily aggregates, never the click log.
 */

/** Program daily aggregates for an inclusive range of UTC days. */
export function programDays(db: Db, from: string, to: string) {
  return db
    .select()
    .from(programDaily)
    .where(and(gte(programDaily.day, from), lte(programDaily.day, to)))
    .orderBy(asc(programDaily.day));
}

export function latestReferrals(db: Db, limit: number) {
  return db.select().from(referrals).orderBy(desc(referrals.signedUpAt), desc(referrals.id)).limit(limit);
}

/**
 * Referrers, most signups first, with a keyset cursor on (signups, code).
 * A search matches a user id or code exactly, or a display name by prefix.
 */
export function listReferrers(db: Db, limit: number, search?: string, cursor?: { signups: number; code: string }) {
  const term = search?.trim();
  const matches = term
    ? or(
        eq(referralCodes.userId, term),
        eq(referralCodes.code, term.toUpperCase()),
        sql`${referralCodes.displayName} LIKE ${`${term.replace(/[\\%_]/g, (m) => `\\${m}`)}%`} ESCAPE '\\'`,
      )
    : undefined;
  const after = cursor
    ? or(
        lt(referralCodes.signups, cursor.signups),
        and(eq(referralCodes.signups, cursor.signups), sql`${referralCodes.code} > ${cursor.code}`),
      )
    : undefined;
  return db
    .select()
    .from(referralCodes)
    .where(and(matches, after))
    .orderBy(desc(referralCodes.signups), asc(referralCodes.code))
    .limit(limit);
}

/** Per referrer, the ledger entries granted to them (not debts) and how many are in force. */
export async function rewardCountsOf(db: Db, userIds: string[]) {
  if (userIds.length === 0) return new Map<string, { granted: number; active: number }>();
  const rows = await db
    .select({
      userId: rewards.userId,
      granted: sql<number>`sum(case when ${rewards.amount} > 0 then 1 else 0 end)`.mapWith(Number),
      active: sql<number>`sum(case when ${rewards.status} = 'active' then 1 else 0 end)`.mapWith(Number),
    })
    .from(rewards)
    .where(
      sql`${rewards.userId} IN (${sql.join(
        userIds.map((id) => sql`${id}`),
        sql`, `,
      )})`,
    )
    .groupBy(rewards.userId);
  return new Map(rows.map((row) => [row.userId, { granted: row.granted, active: row.active }]));
}

export function findReferrerByUser(db: Db, userId: string) {
  return db.select().from(referralCodes).where(eq(referralCodes.userId, userId)).get();
}

/** A referrer's referrals, newest first, keyset on (signed_up_at, id). */
export function referralsOf(db: Db, referrerId: string, limit: number, cursor?: { at: number; id: string }) {
  const after = cursor
    ? or(lt(referrals.signedUpAt, cursor.at), and(eq(referrals.signedUpAt, cursor.at), lt(referrals.id, cursor.id)))
    : undefined;
  return db
    .select({
      referral: referrals,
      clickedAt: referralClicks.clickedAt,
    })
    .from(referrals)
    .leftJoin(referralClicks, eq(referralClicks.referralId, referrals.id))
    .where(and(eq(referrals.referrerId, referrerId), after))
    .orderBy(desc(referrals.signedUpAt), desc(referrals.id))
    .limit(limit);
}

export function auditOf(db: Db, userId: string, limit: number) {
  return db
    .select()
    .from(adminAudit)
    .where(eq(adminAudit.userId, userId))
    .orderBy(desc(adminAudit.createdAt), desc(adminAudit.id))
    .limit(limit);
}

/** Everything a referral's story is told from: its row, its click, the referee's Stripe facts, its ledger. */
export async function referralStory(db: Db, referralId: string) {
  const referral = await db.select().from(referrals).where(eq(referrals.id, referralId)).get();
  if (!referral) return undefined;
  const cap = 200;
  const [click, payments, charges, disputes, ledger] = await Promise.all([
    db.select().from(referralClicks).where(eq(referralClicks.referralId, referralId)).get(),
    db.select().from(stripePayments).where(eq(stripePayments.userId, referral.refereeId)).limit(cap),
    db.select().from(stripeCharges).where(eq(stripeCharges.userId, referral.refereeId)).limit(cap),
    db.select().from(stripeDisputes).where(eq(stripeDisputes.userId, referral.refereeId)).limit(cap),
    db
      .select()
      .from(rewards)
      .where(eq(rewards.referralId, referralId))
      .orderBy(asc(rewards.createdAt), asc(rewards.id))
      .limit(cap),
  ]);
  const audit =
    ledger.length > 0
      ? await db
          .select()
          .from(adminAudit)
          .where(
            inArray(
              adminAudit.rewardId,
              ledger.map((reward) => reward.id),
            ),
          )
          .orderBy(asc(adminAudit.createdAt))
          .limit(cap)
      : [];
  return { referral, click, payments, charges, disputes, ledger, audit };
}

/** Refused attributions, newest first, keyset on (created_at, id), optionally of one reason. */
export function listBlocked(db: Db, limit: number, reason?: string, cursor?: { at: number; id: string }) {
  const after = cursor
    ? or(
        lt(blockedAttributions.createdAt, cursor.at),
        and(eq(blockedAttributions.createdAt, cursor.at), lt(blockedAttributions.id, cursor.id)),
      )
    : undefined;
  return db
    .select()
    .from(blockedAttributions)
    .where(and(reason ? eq(blockedAttributions.reason, reason) : undefined, after))
    .orderBy(desc(blockedAttributions.createdAt), desc(blockedAttributions.id))
    .limit(limit);
}

/** The reasons that occur, for the filter. Bounded: reasons are a short fixed vocabulary. */
export function blockedReasons(db: Db) {
  return db
    .selectDistinct({ reason: blockedAttributions.reason })
    .from(blockedAttributions)
    .orderBy(blockedAttributions.reason)
    .limit(50);
}

export function heldStripeEvents(db: Db, limit: number, before?: { at: number; id: string }) {
  const after = before
    ? or(
        lt(stripeDeferredEvents.receivedAt, before.at),
        and(eq(stripeDeferredEvents.receivedAt, before.at), lt(stripeDeferredEvents.eventId, before.id)),
      )
    : undefined;
  return db
    .select({
      eventId: stripeDeferredEvents.eventId,
      customerId: stripeDeferredEvents.customerId,
      receivedAt: stripeDeferredEvents.receivedAt,
      type: sql<string | null>`json_extract(${stripeDeferredEvents.payload}, '$.type')`,
    })
    .from(stripeDeferredEvents)
    .where(after)
    .orderBy(desc(stripeDeferredEvents.receivedAt), desc(stripeDeferredEvents.eventId))
    .limit(limit);
}

export function unprocessableStripeEvents(db: Db, limit: number, before?: { at: number; id: string }) {
  const after = before
    ? or(
        lt(stripeEvents.processedAt, before.at),
        and(eq(stripeEvents.processedAt, before.at), lt(stripeEvents.id, before.id)),
      )
    : undefined;
  return db
    .select({
      id: stripeEvents.id,
      type: stripeEvents.type,
      processedAt: stripeEvents.processedAt,
      reason: stripeEvents.reason,
    })
    .from(stripeEvents)
    .where(and(eq(stripeEvents.outcome, "unprocessable"), after))
    .orderBy(desc(stripeEvents.processedAt), desc(stripeEvents.id))
    .limit(limit);
}

export function findOutboxEvent(db: Db, sequence: number) {
  return db.select().from(outboxEvents).where(eq(outboxEvents.sequence, sequence)).get();
}

/** Makes an undelivered event due now; false when it was delivered meanwhile (or never existed). */
export async function makeDueNow(db: Db, sequence: number, now: number): Promise<boolean> {
  const rows = await db
    .update(outboxEvents)
    .set({ nextAttemptAt: now })
    .where(and(eq(outboxEvents.sequence, sequence), sql`${outboxEvents.deliveredAt} IS NULL`))
    .returning({ sequence: outboxEvents.sequence });
  return rows.length > 0;
}
