import type { Config } from "../config";
import type { BatchItem, Db } from "../db/client";
import type { ReferralRow } from "../db/queries/referrals";
import { rewardActionStatements, rewardsOfReferralRules } from "../db/queries/rewards";
import type { ChargeFact, DisputeFact, PaymentFact } from "../domain/conversion";
import { recurringRewardActions, recurringRuleIds } from "../domain/recurring";

/**
 * The ledger statements recurring conversion rules call for (see
 * recurringRewardActions). Runs in the Stripe event's batch, so a concurrent
 * event on the same customer replans from the newer state.
 */
export async function recurringRewardStatements(
  deps: { db: Db; config: Config },
  referral: ReferralRow,
  facts: { payments: PaymentFact[]; charges: ChargeFact[]; disputes: DisputeFact[] },
  now: number,
  fraudAt: number | null = null,
): Promise<BatchItem[]> {
  const { db, config } = deps;
  const ruleIds = recurringRuleIds(config.rules);
  if (ruleIds.length === 0) return [];
  const entries = await rewardsOfReferralRules(db, referral.id, ruleIds);
  const actions = recurringRewardActions(
    config.rules,
    { referralId: referral.id, referrerId: referral.referrerId, refereeId: referral.refereeId },
    facts,
    entries,
    config.clawbackMs,
    fraudAt,
  );
  return rewardActionStatements(db, actions, now);
}
