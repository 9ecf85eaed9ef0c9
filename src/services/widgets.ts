import type { Config } from "../config";
import type { Db } from "../db/client";
import { findCodeByUser } from "../db/queries/codes";
import {
  codeDays,
  holdingCounters,
  programTotals,
  rankOf,
  rewardSummary,
  sourceTotals,
  topReferrers,
} from "../db/queries/stats";
import { rewardStatuses } from "../db/schema";
import { type CodeCounter, readClickCounters } from "../durable-objects/code-counter";
import { ApiError } from "../errors";
import { shareUrl } from "./codes";
import { entitlementsOf, rewardJson } from "./rewards";
import { askCounters, beyondFlushed, counterNamesOf } from "./unflushed-clicks";

export interface ReadDeps {
  db: Db;
  config: Config;
  counters: DurableObjectNamespace<CodeCounter>;
}

const DAY_MS = 86_400_000;
const ratio = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 10_000) / 10_000 : 0);

async function codeOf(db: Db, userId: string) {
  const row = await findCodeByUser(db, userId);
  if (!row) throw new ApiError(404, "code_not_found", "This user has no referral code yet");
  return row;
}

/** Everything a user's dashboard card shows: link, live counters, rewards, entitlements. */
export async function widgetSummary(deps: ReadDeps, userId: string, now: number) {
  const row = await codeOf(deps.db, userId);
  const [clicks, rewards, entitlements] = await Promise.all([
    readClickCounters(deps.counters, row.code, deps.config.clickShards),
    rewardSummary(deps.db, userId, 10),
    entitlementsOf(deps, userId, now),
  ]);
  const counts = Object.fromEntries(rewardStatuses.map((status) => [status, 0])) as Record<
    (typeof rewardStatuses)[number],
    number
  >;
  for (const { status, entries } of rewards.byStatus) counts[status] = entries;
  return {
    userId,
    code: row.code,
    shareUrl: shareUrl(deps.config, row.code),
    displayName: row.displayName,
    counters: {
      clicks: clicks.clicks,
      uniqueClicks: clicks.uniqueClicks,
      signups: row.signups,
      conversions: row.conversions,
      conversionRate: ratio(row.conversions, row.signups),
    },
    rewards: { counts, recent: rewards.latest.map((row) => rewardJson(row, now)) },
    entitlements,
  };
}

/**
 * Daily clicks, signups and conversions for the last `days` UTC days, today
 * included, zero-filled. Clicks include those the code's counters have not
 * flushed yet, so the days add up to the live counters.
 */
export async function userTimeseries(deps: ReadDeps, userId: string, days: number, now: number) {
  const row = await codeOf(deps.db, userId);
  const today = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate());
  const from = new Date(today - (days - 1) * DAY_MS).toISOString().slice(0, 10);
  const to = new Date(today).toISOString().slice(0, 10);
  // The counters before D1: see unflushed-clicks.ts.
  const names = counterNamesOf(row.code, deps.config.clickShards);
  const asked = await askCounters(deps.counters, names, row.code, from, to);
  const stored = await codeDays(deps.db, row.code, from, names);
  const unflushed = beyondFlushed(asked, stored.flushed);
  const known = new Map(stored.days.map((d) => [d.day, d]));
  return {
    code: row.code,
    days: Array.from({ length: days }, (_, i) => {
      const day = new Date(today - (days - 1 - i) * DAY_MS).toISOString().slice(0, 10);
      const found = known.get(day);
      return {
        day,
        clicks: (found?.clicks ?? 0) + (unflushed.get(day)?.clicks ?? 0),
        signups: found?.signups ?? 0,
        conversions: found?.conversions ?? 0,
      };
    }),
  };
}

/**
 * Top referrers by signups, then conversions. For widgets, people are shown
 * by the display name they opted into, otherwise masked; operators see all.
 */
export async function leaderboard(deps: ReadDeps, limit: number, options: { viewerId?: string; masked: boolean }) {
  const top = await topReferrers(deps.db, limit);
  const entries = top.map((entry, index) => ({
    rank: index + 1,
    name: entry.displayName ?? (options.masked ? "Anonymous referrer" : null),
    ...(options.masked ? {} : { userId: entry.userId, code: entry.code }),
    signups: entry.signups,
    conversions: entry.conversions,
    ...(options.viewerId !== undefined ? { isYou: entry.userId === options.viewerId } : {}),
  }));
  let you: { rank: number; signups: number; conversions: number } | null = null;
  if (options.viewerId) {
    const own = await findCodeByUser(deps.db, options.viewerId);
    if (own) you = { rank: await rankOf(deps.db, own), signups: own.signups, conversions: own.conversions };
  }
  return { entries, ...(options.viewerId !== undefined ? { you } : {}) };
}

/**
 * Program totals for an inclusive range of UTC days, from daily aggregates
 * plus what the counters have not flushed yet. The counters D1 lists as
 * holding unflushed clicks are asked (at most COUNTER_BUCKETS of them,
 * whatever the number of codes; none when every buffer is drained), in
 * parallel, before the aggregates are read.
 */
export async function programStats(deps: ReadDeps, from: string, to: string) {
  const asked = await askCounters(deps.counters, await holdingCounters(deps.db), null, from, to);
  const [totals, top, bySource] = await Promise.all([
    programTotals(deps.db, from, to),
    topReferrers(deps.db, 10),
    sourceTotals(deps.db, from, to),
  ]);
  const { traffic, rewards, revenue } = totals;
  const unflushed = { clicks: 0, uniqueClicks: 0, botClicks: 0 };
  for (const part of beyondFlushed(asked, totals.flushed).values()) {
    unflushed.clicks += part.clicks;
    unflushed.uniqueClicks += part.uniqueClicks;
    unflushed.botClicks += part.botClicks;
  }
  return {
    from,
    to,
    clicks: traffic.clicks + unflushed.clicks,
    uniqueClicks: traffic.uniqueClicks + unflushed.uniqueClicks,
    botClicks: traffic.botClicks + unflushed.botClicks,
    signups: traffic.signups,
    conversions: traffic.conversions,
    conversionRate: ratio(traffic.conversions, traffic.signups),
    rewards: { ...rewards, redemptionRate: ratio(rewards.redeemed, rewards.granted) },
    revenue: revenue.map((r) => ({ ...r, net: r.gross - r.refunded })),
    topReferrers: top,
    bySource,
  };
}
