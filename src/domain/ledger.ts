import type { RewardStatus } from "../db/schema";
import type { RewardRules } from "./rules";

/**
 * The reward lifecycle. Entries are never deleted: they move forward through
 * these transitions, and a clawback of something already spent is a new entry.
 * `active → pending` is a hold (a disputed payment), `pending → active` its release.
 */
const TRANSITIONS: Record<RewardStatus, readonly RewardStatus[]> = {
  pending: ["active", "expired", "revoked"],
  active: ["pending", "redeemed", "expired", "revoked"],
  redeemed: [],
  expired: [],
  revoked: [],
};

export function canTransition(from: RewardStatus, to: RewardStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Who revoked an entry because of Stripe facts; only such a revocation can be undone. */
export const REVOKED_BY_STRIPE = "stripe";

/**
 * The one way back from `revoked`: a revocation that the Stripe facts made and
 * that they no longer support (an earlier payment turned up, so the refunded
 * one was not the conversion) is reinstated to what the facts now say, or to
 * `redeemed` if the reward was spent meanwhile. Any other revocation is final.
 */
export function canReinstate(from: RewardStatus, revokedBy: string | null, to: RewardStatus): boolean {
  return (
    from === "revoked" && revokedBy === REVOKED_BY_STRIPE && (to === "active" || to === "pending" || to === "redeemed")
  );
}

/** The fields of a ledger entry that entitlements depend on. */
export interface EntitlementEntry {
  type: string;
  amount: number;
  feature: string | null;
  status: RewardStatus;
  validFrom: number;
  validUntil: number | null;
  /** A pending entry waiting out its hold counts as active from this time. */
  availableAt?: number | null;
  /** An entry offering a choice counts only once an option was taken. */
  choices?: string | null;
  choice?: string | null;
}

/** Pending only until the referrer picks one of its options. */
export function awaitingChoice(entry: Pick<EntitlementEntry, "choices" | "choice">): boolean {
  return (entry.choices ?? null) !== null && (entry.choice ?? null) === null;
}

/**
 * The status an entry has at `now`: a pending entry whose hold has ended (and
 * whose option, if it offers a choice, was taken) is active, even before the
 * cron has moved it, the same way an entry past its end is expired before the
 * expiry job has run.
 */
export function statusAt(
  entry: Pick<EntitlementEntry, "status" | "availableAt" | "choices" | "choice">,
  now: number,
): RewardStatus {
  if (entry.status === "pending" && entry.availableAt != null && entry.availableAt <= now && !awaitingChoice(entry)) {
    return "active";
  }
  return entry.status;
}

export interface Entitlements {
  extraMessages: number;
  extraRequests: number;
  creditCents: number;
  features: { feature: string; until: string | null }[];
  /** Every quantity type, including ones added to the rules after these fields were named. */
  quantities: Record<string, number>;
}

/**
 * In force at `now`: active (or past its hold), started, and not past its end
 * (even if the expiry job has not run yet).
 */
export function inForce(entry: EntitlementEntry, now: number): boolean {
  return (
    statusAt(entry, now) === "active" && entry.validFrom <= now && (entry.validUntil === null || now < entry.validUntil)
  );
}

/**
 * What a user has right now, from their ledger entries: quantities and credit
 * add up; a feature is unlocked until the latest end among its entries.
 */
export function computeEntitlements(
  rules: RewardRules,
  entries: readonly EntitlementEntry[],
  now: number,
): Entitlements {
  const quantities: Record<string, number> = {};
  for (const [type, { kind }] of Object.entries(rules.rewardTypes)) if (kind === "quantity") quantities[type] = 0;
  let creditCents = 0;
  const features = new Map<string, number | null>();

  for (const entry of entries) {
    if (!inForce(entry, now)) continue;
    const kind = rules.rewardTypes[entry.type]?.kind;
    if (kind === "quantity") quantities[entry.type] = (quantities[entry.type] ?? 0) + entry.amount;
    else if (kind === "credit") creditCents += entry.amount;
    // A debt cannot take back time already used: only a positive entry unlocks a feature.
    else if (kind === "feature" && entry.feature && entry.amount > 0) {
      const current = features.get(entry.feature);
      const until = entry.validUntil;
      if (current === undefined || until === null || (current !== null && until > current)) {
        features.set(entry.feature, until);
      }
    }
  }
  return {
    extraMessages: quantities.extra_messages ?? 0,
    extraRequests: quantities.extra_requests ?? 0,
    creditCents,
    features: [...features]
      .map(([feature, until]) => ({ feature, until: until === null ? null : new Date(until).toISOString() }))
      .sort((a, b) => a.feature.localeCompare(b.feature)),
    quantities,
  };
}
