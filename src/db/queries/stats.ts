import { and, asc, count, desc, eq, gt, gte, inArray, lt, lte, or, sql, sum } from "drizzle-orm";
import { type ReferralSource, referralSources } from "../../domain/attribution-source";
import type { Db } from "../client";
import {
  clickCounters,
  codeDaily,
  programDaily,
  referralCodes,
  referrals,
  revenueDaily,
  rewardDaily,
  rewards,
} from "../schema";

/**
 * Reads for dashboards and operators. Every one reads counters or daily
 * aggregates by key or index range, never the click log, so its cost does not
 * grow with the number of clicks.
 */

const total = (column: Parameters<typeof sum>[0]) => sql<number>`coalesce(${sum(column)}, 0)`.mapWith(Number);

/** The counter objects that say they may hold clicks D1 does not have yet. */
export async function holdingCounters(db: Db): Promise<string[]> {
  return (
    await db.select({ counter: clickCounters.counter }).from(clickCounters).where(eq(clickCounters.holding, 1))
  ).map((row) => row.counter);
}

/** Each counter's newest landed flush (of the given counters, or of all); read in the same batch as aggregates. */
function flushedMarks(db: Db, counters: readonly string[] | null) {
  return db
    .select({ counter: clickCounters.counter, flushed: clickCounters.flushed })
    .from(clickCounters)
    .where(counters === null ? undefined : inArray(clickCounters.counter, [...counters]));
}

const byCounter = (rows: { counter: string; flushed: number }[]) =>
  new Map(rows.map((row) => [row.counter, row.flushed]));

/**
 * Program totals over an inclusive range of UTC days: one aggregate row per
 * day, read with every counter's landed-flush mark in one snapshot.
 */
export async function programTotals(db: Db, from: string, to: string) {
  const inRange = and(gte(programDaily.day, from), lte(programDaily.day, to));
  const [[traffic], marks] = await db.batch([
    db
      .select({
        clicks: total(programDaily.clicks),
        uniqueClicks: total(programDaily.uniqueClicks),
        botClicks: total(programDaily.botClicks),
        signups: total(programDaily.signups),
        conversions: total(programDaily.conversions),
      })
      .from(programDaily)
      .where(inRange),
    flushedMarks(db, null),
  ]);
  const [rewardTotals] = await db
    .select({
      granted: total(rewardDaily.granted),
      redeemed: total(rewardDaily.redeemed),
      expired: total(rewardDaily.expired),
      revoked: total(rewardDaily.revoked),
    })
    .from(rewardDaily)
    .where(and(gte(rewardDaily.day, from), lte(rewardDaily.day, to)));
  const revenue = await db
    .select({
      currency: revenueDaily.currency,
      gross: total(revenueDaily.gross),
      refunded: total(revenueDaily.refunded),
    })
    .from(revenueDaily)
    .where(and(gte(revenueDaily.day, from), lte(revenueDaily.day, to)))
    .groupBy(revenueDaily.currency)
    .orderBy(revenueDaily.currency);
  return {
    traffic: traffic ?? { clicks: 0, uniqueClicks: 0, botClicks: 0, signups: 0, conversions: 0 },
    flushed: byCounter(marks),
    rewards: rewardTotals ?? { granted: 0, redeemed: 0, expired: 0, revoked: 0 },
    revenue,
  };
}

/** The ranking: signups, then conversions, then who got there first. Served by an index. */
export function topReferrers(db: Db, limit: number) {
  return db
    .select({
      code: referralCodes.code,
      userId: referralCodes.userId,
      displayName: referralCodes.displayName,
      signups: referralCodes.signups,
      conversions: referralCodes.conversions,
    })
    .from(referralCodes)
    .orderBy(desc(referralCodes.signups), desc(referralCodes.conversions), asc(referralCodes.createdAt))
    .limit(limit);
}

/** A code's place in that ranking: 1 + how many rank above it. */
export async function rankOf(db: Db, code: { signups: number; conversions: number; createdAt: number }) {
  const [row] = await db
    .select({ above: count() })
    .from(referralCodes)
    .where(
      or(
        gt(referralCodes.signups, code.signups),
        and(eq(referralCodes.signups, code.signups), gt(referralCodes.conversions, code.conversions)),
        and(
          eq(referralCodes.signups, code.signups),
          eq(referralCodes.conversions, code.conversions),
          sql`${referralCodes.createdAt} < ${code.createdAt}`,
        ),
      ),
    );
  return (row?.above ?? 0) + 1;
}

/**
 * A code's daily aggregates from `from` (inclusive), by day, read with its
 * counters' landed-flush marks in one snapshot.
 */
export async function codeDays(db: Db, code: string, from: string, counters: readonly string[]) {
  const [days, marks] = await db.batch([
    db
      .select({
        day: codeDaily.day,
        clicks: codeDaily.clicks,
        signups: codeDaily.signups,
        conversions: codeDaily.conversions,
      })
      .from(codeDaily)
      .where(and(eq(codeDaily.code, code), gte(codeDaily.day, from)))
      .orderBy(codeDaily.day),
    flushedMarks(db, counters),
  ]);
  return { days, flushed: byCounter(marks) };
}

/** A user's ledger entries by status, and the newest few. */
export async function rewardSummary(db: Db, userId: string, recent: number) {
  const byStatus = await db
    .select({ status: rewards.status, entries: count() })
    .from(rewards)
    .where(eq(rewards.userId, userId))
    .groupBy(rewards.status);
  const latest = await db
    .select()
    .from(rewards)
    .where(eq(rewards.userId, userId))
    .orderBy(desc(rewards.createdAt), desc(rewards.id))
    .limit(recent);
  return { byStatus, latest };
}

/**
 * Signups and conversions per carrier over an inclusive range of UTC days:
 * referrals by the day they signed up, and by the day they converted. Each
 * count walks one index range (signed_up_at or converted_at, then source), so
 * it grows with the referrals in the range, never with clicks.
 */
export async function sourceTotals(db: Db, from: string, to: string) {
  const start = Date.parse(`${from}T00:00:00Z`);
  const end = Date.parse(`${to}T00:00:00Z`) + 86_400_000;
  const [signups, conversions] = await db.batch([
    db
      .select({ source: referrals.source, n: count() })
      .from(referrals)
      .where(and(gte(referrals.signedUpAt, start), lt(referrals.signedUpAt, end)))
      .groupBy(referrals.source),
    db
      .select({ source: referrals.source, n: count() })
      .from(referrals)
      .where(and(gte(referrals.convertedAt, start), lt(referrals.convertedAt, end)))
      .groupBy(referrals.source),
  ]);
  const bySource = Object.fromEntries(referralSources.map((source) => [source, { signups: 0, conversions: 0 }])) as {
    [S in ReferralSource]: { signups: number; conversions: number };
  };
  for (const row of signups) bySource[row.source].signups = row.n;
  for (const row of conversions) bySource[row.source].conversions = row.n;
  return bySource;
}
