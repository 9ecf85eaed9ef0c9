import { and, eq, gt, lte, sql } from "drizzle-orm";
import type { Config } from "../config";
import { type BatchItem, type Db, runBatch } from "../db/client";
import {
  clawbackStatement,
  grantStatement,
  milestoneEntries,
  qualifiedCount,
  setRewardStatusStatement,
  takeBackStatement,
} from "../db/queries/rewards";
import { referrals } from "../db/schema";
import { bundleOfEntry, takeBackBundle } from "../domain/bundles";
import { planQualifiedMilestones, qualifyingHoldMs } from "../domain/rules";

/** Who revoked a milestone whose count was lost: final, the next crossing is a new entry. */
export const REVOKED_BY_MILESTONE = "milestone";

/**
 * The statements that bring a referrer's milestones on qualified conversions
 * in line with their count. `change` is the referral an event is changing in
 * the same batch: its new state is counted instead of the stored one. A grant
 * is made only if the count still holds when its batch runs, once per crossing.
 */
export async function qualifiedMilestoneStatements(
  deps: { db: Db; config: Config },
  referrerId: string,
  change: { referralId: string; convertedAt: number | null; clawedBackAt: number | null },
  now: number,
): Promise<BatchItem[]> {
  const { db, config } = deps;
  const rules = config.rules;
  if (rules.qualifiedBy !== "conversion" || rules.milestones.length === 0) return [];
  const convertedBy = now - qualifyingHoldMs(rules);
  const qualifies = change.convertedAt !== null && change.convertedAt <= convertedBy && change.clawedBackAt === null;
  const qualified = (await qualifiedCount(db, referrerId, convertedBy, change.referralId)) + (qualifies ? 1 : 0);
  const ruleIds = rules.milestones.flatMap((milestone) => milestone.grants.map((grant) => grant.id));
  const entries = await milestoneEntries(db, referrerId, ruleIds);
  const byId = new Map(entries.map((entry) => [entry.id, entry]));
  return planQualifiedMilestones(rules, { referrerId, referralId: change.referralId, qualified, now }, entries).flatMap(
    (action) => {
      if (action.kind === "grant") return [grantStatement(db, action.grant, now)];
      const id = action.kind === "revoke" ? action.id : action.entry.id;
      const entry = byId.get(id);
      const own =
        action.kind === "revoke"
          ? [setRewardStatusStatement(db, action.id, action.from, "revoked", now, REVOKED_BY_MILESTONE)]
          : entry
            ? [clawbackStatement(db, entry, now)]
            : [];
      // A milestone taken back takes back the further rewards of the bundle chosen on it, if any.
      const bundle = takeBackBundle(bundleOfEntry(entries, id));
      return [...own, ...bundle.map((part) => takeBackStatement(db, part, now, REVOKED_BY_MILESTONE))];
    },
  );
}

/** How far back the cron looks for conversions whose hold has just ended (it runs every 15 minutes). */
const LOOKBACK_MS = 2 * 86_400_000;

/**
 * The cron's pass: referrers with a conversion whose hold ended in the last
 * two days have their milestones brought in line (a conversion qualifies by
 * time alone, with no event to say so). Idempotent; returns how many grants,
 * revocations and debts it made.
 */
export async function refreshQualifiedMilestones(deps: { db: Db; config: Config }, now: number): Promise<number> {
  const { db, config } = deps;
  if (config.rules.qualifiedBy !== "conversion" || config.rules.milestones.length === 0) return 0;
  const convertedBy = now - qualifyingHoldMs(config.rules);
  const due = await db
    .select({ referrerId: referrals.referrerId, referralId: sql<string>`max(${referrals.id})` })
    .from(referrals)
    .where(
      and(
        gt(referrals.convertedAt, convertedBy - LOOKBACK_MS),
        lte(referrals.convertedAt, convertedBy),
        sql`${referrals.clawedBackAt} IS NULL`,
      ),
    )
    .groupBy(referrals.referrerId);
  let changed = 0;
  for (const { referrerId, referralId } of due) {
    const referral = await db
      .select({ convertedAt: referrals.convertedAt, clawedBackAt: referrals.clawedBackAt })
      .from(referrals)
      .where(eq(referrals.id, referralId))
      .get();
    if (!referral) continue;
    const statements = await qualifiedMilestoneStatements(deps, referrerId, { referralId, ...referral }, now);
    await runBatch(db, statements);
    changed += statements.length;
  }
  return changed;
}
