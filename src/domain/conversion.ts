import type { RewardStatus } from "../db/schema";
import { canReinstate, canTransition } from "./ledger";
import type { PlannedGrant } from "./rules";

/**
 * What Stripe has told us about a referee, as facts that only accumulate, and
 * the conversion state derived from them. Because the state is a function of
 * the set of facts, never of the order they arrived in, replays and shuffled
 * deliveries end in the same place. No I/O here.
 */

export interface PaymentFact {
  /** The invoice or checkout session id. */
  id: string;
  /** Null for a one-off checkout that created no Stripe customer. */
  customerId: string | null;
  paymentIntent: string | null;
  currency: string;
  amount: number;
  paidAt: number;
}

export interface ChargeFact {
  id: string;
  customerId: string | null;
  paymentIntent: string | null;
  currency: string;
  amount: number;
  amountRefunded: number;
  fullyRefundedAt: number | null;
  createdAt: number;
}

export interface DisputeFact {
  id: string;
  chargeId: string;
  paymentIntent: string | null;
  status: string;
  statusAt: number;
}

/** Two sightings of a charge: refunds only grow, and full refund happened at its first sighting. */
export function mergeCharge(known: ChargeFact | undefined, seen: ChargeFact): ChargeFact {
  if (!known) return seen;
  const fullyRefundedAt =
    known.fullyRefundedAt === null || seen.fullyRefundedAt === null
      ? (known.fullyRefundedAt ?? seen.fullyRefundedAt)
      : Math.min(known.fullyRefundedAt, seen.fullyRefundedAt);
  return {
    ...known,
    paymentIntent: known.paymentIntent ?? seen.paymentIntent,
    amountRefunded: Math.max(known.amountRefunded, seen.amountRefunded),
    fullyRefundedAt,
  };
}

/** Two sightings of a dispute: the later event's status wins (ties: the closed one). */
export function mergeDispute(known: DisputeFact | undefined, seen: DisputeFact): DisputeFact {
  if (!known) return seen;
  if (seen.statusAt > known.statusAt || (seen.statusAt === known.statusAt && isClosed(seen.status))) {
    return {
      ...known,
      status: seen.status,
      statusAt: seen.statusAt,
      paymentIntent: known.paymentIntent ?? seen.paymentIntent,
    };
  }
  return known;
}

const CLOSED_DISPUTE_STATUSES = new Set(["won", "lost", "warning_closed", "prevented"]);
const isClosed = (status: string) => CLOSED_DISPUTE_STATUSES.has(status);

/** How close a charge's creation must be to a payment to be taken as that payment's charge. */
const CHARGE_MATCH_WINDOW_MS = 86_400_000;

/**
 * The charge that paid `payment`: the one with its payment intent when both
 * are known; otherwise (an invoice's payment intent is not in its webhook) the
 * charge of the same amount and currency created closest to the payment, within a day.
 */
export function chargeOfPayment(payment: PaymentFact, charges: readonly ChargeFact[]): ChargeFact | null {
  if (payment.paymentIntent) {
    const exact = charges.find((charge) => charge.paymentIntent === payment.paymentIntent);
    if (exact) return exact;
  }
  let best: ChargeFact | null = null;
  for (const charge of charges) {
    if (charge.currency !== payment.currency || charge.amount !== payment.amount) continue;
    if (payment.paymentIntent && charge.paymentIntent && charge.paymentIntent !== payment.paymentIntent) continue;
    const distance = Math.abs(charge.createdAt - payment.paidAt);
    if (distance > CHARGE_MATCH_WINDOW_MS) continue;
    if (
      !best ||
      distance < Math.abs(best.createdAt - payment.paidAt) ||
      (distance === Math.abs(best.createdAt - payment.paidAt) && charge.id < best.id)
    ) {
      best = charge;
    }
  }
  return best;
}

export interface ConversionState {
  /** The first payment of an amount above zero; null while the referee has not paid. */
  converting: PaymentFact | null;
  /** When the conversion was taken back: a full refund within the clawback window, or a lost dispute. */
  clawedBackAt: number | null;
  /** An open dispute on the converting payment: its reward waits. */
  held: boolean;
}

export function conversionState(
  payments: readonly PaymentFact[],
  charges: readonly ChargeFact[],
  disputes: readonly DisputeFact[],
  clawbackMs: number,
): ConversionState {
  const converting =
    [...payments]
      .filter((payment) => payment.amount > 0)
      .sort((a, b) => a.paidAt - b.paidAt || (a.id < b.id ? -1 : 1))[0] ?? null;
  if (!converting) return { converting: null, clawedBackAt: null, held: false };

  return { converting, ...paymentState(converting, charges, disputes, clawbackMs) };
}

/**
 * Whether one payment was taken back (fully refunded within the clawback
 * window, or a dispute on it lost) or is held (a dispute on it is open).
 */
export function paymentState(
  payment: PaymentFact,
  charges: readonly ChargeFact[],
  disputes: readonly DisputeFact[],
  clawbackMs: number,
): { clawedBackAt: number | null; held: boolean } {
  const charge = chargeOfPayment(payment, charges);
  const onPayment = (dispute: DisputeFact) =>
    (charge !== null && dispute.chargeId === charge.id) ||
    (payment.paymentIntent !== null && dispute.paymentIntent === payment.paymentIntent);
  const relevant = disputes.filter(onPayment);

  const ends: number[] = [];
  if (charge?.fullyRefundedAt != null && charge.fullyRefundedAt - payment.paidAt <= clawbackMs) {
    ends.push(charge.fullyRefundedAt);
  }
  for (const dispute of relevant) if (dispute.status === "lost") ends.push(dispute.statusAt);
  const clawedBackAt = ends.length > 0 ? Math.min(...ends) : null;
  const held = clawedBackAt === null && relevant.some((dispute) => !isClosed(dispute.status));
  return { clawedBackAt, held };
}

/** Revenue from a referee per currency, in minor units: paid minus refunded. */
export function revenueByCurrency(payments: readonly PaymentFact[], charges: readonly ChargeFact[]) {
  const totals: Record<string, { gross: number; refunded: number }> = {};
  const of = (currency: string) => (totals[currency] ??= { gross: 0, refunded: 0 });
  for (const payment of payments) of(payment.currency).gross += payment.amount;
  for (const charge of charges) of(charge.currency).refunded += charge.amountRefunded;
  return totals;
}

export interface ExistingReward {
  id: string;
  dedupeKey: string;
  status: RewardStatus;
  triggerId: string | null;
  revokedBy: string | null;
  /** Set once the reward was applied outside the ledger (Stripe credit): it is spent even if revoked since. */
  fulfilledAt: number | null;
  amount?: number;
  /** Pending until then for its rule's holding period; null when pending for a dispute or not pending. */
  availableAt?: number | null;
  choices?: string | null;
  choice?: string | null;
}

export type RewardAction =
  | { kind: "insert"; grant: PlannedGrant; status: RewardStatus }
  /** `availableAt` is the end of the hold when `to` is pending for one. */
  | { kind: "set_status"; id: string; from: RewardStatus; to: RewardStatus; availableAt?: number | null }
  | { kind: "debt"; grant: PlannedGrant }
  /** An earlier payment turned up: the reward now stems from it. */
  | { kind: "retarget"; id: string; grant: PlannedGrant };

/**
 * What to do to the ledger so the conversion rewards match the state: grant
 * what is missing (already revoked or held if that is the state), hold or
 * release, revoke, and for a reward already spent, record the debt as a
 * negative entry: the ledger is never rewritten. Facts only accumulate, but a
 * new fact can make an old one irrelevant (an earlier payment makes the
 * refunded one a renewal): then the revocation, or the debt, is undone, so the
 * ledger is a function of the set of facts alone, never of their order.
 */
export function conversionRewardActions(
  planned: readonly PlannedGrant[],
  existing: ReadonlyMap<string, ExistingReward>,
  state: ConversionState,
): RewardAction[] {
  const actions: RewardAction[] = [];
  const move = (entry: ExistingReward, to: RewardStatus) => {
    if (entry.status === to) return;
    if (canTransition(entry.status, to) || canReinstate(entry.status, entry.revokedBy, to)) {
      actions.push({ kind: "set_status", id: entry.id, from: entry.status, to });
    }
  };
  for (const grant of planned) {
    // A reward in good standing with a holding period is pending until the hold ends; held by a dispute, indefinitely.
    const desired: RewardStatus =
      state.clawedBackAt !== null ? "revoked" : state.held || grant.availableAt !== null ? "pending" : "active";
    const availableAt = desired === "pending" && !state.held ? grant.availableAt : null;
    const current = existing.get(grant.dedupeKey);
    if (!current) {
      actions.push({ kind: "insert", grant: { ...grant, availableAt }, status: desired });
      continue;
    }
    if (
      (current.triggerId !== grant.triggerId ||
        (current.amount !== undefined && current.amount !== grant.amount && (current.choice ?? null) === null)) &&
      current.status !== "redeemed" &&
      current.status !== "expired"
    ) {
      actions.push({ kind: "retarget", id: current.id, grant });
    }
    const spent = current.status === "redeemed" || current.fulfilledAt !== null;
    if (!spent) {
      if (desired === "pending" && availableAt !== null) {
        // Waiting out the hold: an entry the cron already made active stays active.
        if (current.status === "active") continue;
        if (current.status === "pending" && (current.availableAt ?? null) === availableAt) continue;
        if (current.status === "pending" || canReinstate(current.status, current.revokedBy, "pending")) {
          actions.push({ kind: "set_status", id: current.id, from: current.status, to: "pending", availableAt });
        }
        continue;
      }
      if (desired === "pending" && current.status === "pending" && (current.availableAt ?? null) !== null) {
        // A dispute opened during the hold: the entry no longer becomes usable on its own.
        actions.push({ kind: "set_status", id: current.id, from: "pending", to: "pending", availableAt: null });
        continue;
      }
      if (desired === "active" && current.status === "pending" && current.choices != null && current.choice == null) {
        // Released, but still waiting for the referrer's choice.
        continue;
      }
      move(current, desired);
      continue;
    }
    // Spent: the entry stays as it is and a debt entry says what is owed.
    const debtKey = `${grant.dedupeKey}:clawback`;
    const debt = existing.get(debtKey);
    if (desired === "revoked") {
      if (!debt) {
        actions.push({
          kind: "debt",
          grant: {
            ...grant,
            amount: -grant.amount,
            trigger: "clawback",
            dedupeKey: debtKey,
            validFrom: state.clawedBackAt ?? grant.validFrom,
            validUntil: null,
            availableAt: null,
            choices: null,
            chooseBy: null,
            bundleOf: null,
            condition: { kind: "always" },
          },
        });
      } else move(debt, "active");
      continue;
    }
    // Nothing is owed any more: the debt is forgiven and a reward revoked while it was being spent is spent.
    if (debt) move(debt, "revoked");
    if (current.status === "revoked") move(current, "redeemed");
  }
  return actions;
}
