import type { RewardStatus } from "../db/schema";
import {
  type ChargeFact,
  conversionRewardActions,
  type DisputeFact,
  type ExistingReward,
  type PaymentFact,
  paymentState,
  type RewardAction,
} from "./conversion";
import { type PlannedGrant, planRecurringGrants, type RewardRules } from "./rules";
import { selfReferralClawback } from "./self-referral";

/** What recurring rules need to know of an entry they made (or its debt). */
export interface RecurringEntry extends ExistingReward {
  userId: string;
  referralId: string | null;
  rule: string;
  type: string;
  amount: number;
  currency: string | null;
  feature: string | null;
  trigger: string;
  status: RewardStatus;
  validFrom: number;
  validUntil: number | null;
  availableAt: number | null;
}

const isDebt = (entry: RecurringEntry) => entry.trigger === "clawback";
const isSpent = (entry: RecurringEntry) => entry.status === "redeemed" || entry.fulfilledAt !== null;

/** An entry as a plan, for one no longer planned (or not planned here): what its debt would take back. */
export function plannedFromEntry(entry: RecurringEntry, role: PlannedGrant["role"]): PlannedGrant {
  return {
    userId: entry.userId,
    referralId: entry.referralId ?? entry.id,
    role,
    rule: entry.rule,
    type: entry.type,
    amount: entry.amount,
    currency: entry.currency,
    feature: entry.feature,
    trigger: "conversion",
    triggerId: entry.triggerId ?? entry.id,
    dedupeKey: entry.dedupeKey,
    validFrom: entry.validFrom,
    validUntil: entry.validUntil,
    availableAt: entry.availableAt,
    condition: { kind: "always" },
  };
}

/**
 * What recurring conversion rules ask of the ledger, from every payment,
 * charge and dispute known for the referee and the entries those rules made
 * for the referral: an entry per eligible invoice, each revoked (or, once
 * spent, taken back by a debt) when its own invoice is refunded or lost in a
 * dispute, and held while a dispute on it is open. An entry that falls
 * outside the first invoices (an earlier one arrived late) is taken back the
 * same way. No I/O.
 */
export function recurringRewardActions(
  rules: RewardRules,
  referral: { referralId: string; referrerId: string; refereeId: string },
  facts: { payments: readonly PaymentFact[]; charges: readonly ChargeFact[]; disputes: readonly DisputeFact[] },
  entries: readonly RecurringEntry[],
  clawbackMs: number,
  /** When the referral was found to be a self-referral (domain/self-referral.ts), if it was. */
  fraudAt: number | null = null,
): RewardAction[] {
  const existing = new Map<string, ExistingReward>(entries.map((entry) => [entry.dedupeKey, entry]));
  const spent = new Map(
    entries.filter((entry) => !isDebt(entry) && isSpent(entry)).map((entry) => [entry.dedupeKey, entry.amount]),
  );
  const planned = planRecurringGrants(rules, referral, facts.payments, spent);
  const payments = new Map(facts.payments.map((payment) => [payment.id, payment]));

  const actions: RewardAction[] = [];
  for (const grant of planned) {
    const payment = payments.get(grant.triggerId);
    if (!payment) continue;
    const state = paymentState(payment, facts.charges, facts.disputes, clawbackMs);
    // A self-referral takes each invoice's entry back as a refund of that invoice would.
    const fraud = selfReferralClawback(fraudAt, payment.paidAt, clawbackMs);
    if (fraud !== null) {
      state.clawedBackAt = Math.min(state.clawedBackAt ?? fraud, fraud);
      state.held = false;
    }
    actions.push(...conversionRewardActions([grant], existing, { converting: payment, ...state }));
  }
  const plannedKeys = new Set(planned.map((grant) => grant.dedupeKey));
  for (const entry of entries) {
    if (isDebt(entry) || plannedKeys.has(entry.dedupeKey)) continue;
    const role = entry.userId === referral.referrerId ? "referrer" : "referee";
    actions.push(
      ...conversionRewardActions([plannedFromEntry(entry, role)], existing, {
        converting: null,
        clawedBackAt: entry.validFrom,
        held: false,
      }),
    );
  }
  return actions;
}

/** The ids of the rules that recur. */
export function recurringRuleIds(rules: RewardRules): string[] {
  return [...rules.conversion.referrer, ...rules.conversion.referee]
    .filter((grant) => grant.recurring)
    .map((grant) => grant.id);
}
