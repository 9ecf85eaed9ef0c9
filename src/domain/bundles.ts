import type { RewardStatus } from "../db/schema";
import type { ChoiceOffer, OfferedReward, PlannedGrant } from "./rules";

/**
 * Bundled choice options ("50 messages + 25 requests"). The ledger keeps one
 * reward per entry, so choosing a bundle makes the entry that offered the
 * choice the bundle's first reward, and each further reward an entry of its
 * own whose `bundleOf` names it, keyed `<entry's key>:bundle:<place>`. The
 * further entries share the entry's fate: whatever takes the entry back (a
 * refund, a lost dispute, a clawback, an operator's revocation) takes them
 * back too, each by its own rule (revoked if unspent, a debt if spent). No I/O.
 */

/** The options stored on an entry; null for an entry that offers no choice. */
export function offersOf(entry: { choices: string | null }): ChoiceOffer[] | null {
  return entry.choices === null ? null : (JSON.parse(entry.choices) as ChoiceOffer[]);
}

/** The option taken on an entry; null while none is, or when it offers no choice. */
function chosenOffer(entry: { choices: string | null; choice: string | null }): ChoiceOffer | null {
  if (entry.choice === null) return null;
  return offersOf(entry)?.find((offer) => offer.id === entry.choice) ?? null;
}

/** A bundle's rewards after its first (which the entry itself becomes); none for a single reward. */
export function furtherRewards(offer: ChoiceOffer): OfferedReward[] {
  return offer.grants?.slice(1) ?? [];
}

/** The dedupe key of a bundle's further reward: its entry's key and its place in the bundle (1 is the second grant). */
export const bundleKey = (entryKey: string, place: number) => `${entryKey}:bundle:${place}`;

/**
 * An entry's planned grant as the reward it now is: once an option is taken
 * the entry is that option (a bundle's first reward), not the first option
 * that described it before, so a debt takes back what was really spent.
 */
export function asChosen(
  grant: PlannedGrant,
  entry: { choices: string | null; choice: string | null } | undefined,
): PlannedGrant {
  const offer = entry ? chosenOffer(entry) : null;
  if (!offer) return grant;
  return {
    ...grant,
    type: offer.type,
    amount: offer.amount,
    currency: offer.currency,
    feature: offer.feature,
    validUntil: offer.validUntil,
  };
}

/**
 * The further rewards of the bundle chosen on an entry, planned like the
 * entry's own grant: the same referral, trigger, start and hold, so whoever
 * plans the entry's fate (the Stripe facts, a milestone count) plans theirs
 * alike. Amounts and ends are the ones offered when the entry was granted.
 */
export function bundleGrants(
  grant: PlannedGrant,
  entry: { id: string; choices: string | null; choice: string | null } | undefined,
): PlannedGrant[] {
  const offer = entry ? chosenOffer(entry) : null;
  if (!entry || !offer) return [];
  return furtherRewards(offer).map((reward, i) => ({
    ...grant,
    type: reward.type,
    amount: reward.amount,
    currency: reward.currency,
    feature: reward.feature,
    validUntil: reward.validUntil,
    choices: null,
    chooseBy: null,
    dedupeKey: bundleKey(grant.dedupeKey, i + 1),
    bundleOf: entry.id,
    condition: { kind: "always" },
  }));
}

/** A bundle's further entry (or a debt of one), as taking the bundle back needs it. */
export interface BundleEntry {
  id: string;
  dedupeKey: string;
  status: RewardStatus;
  trigger: string;
  fulfilledAt: number | null;
}

export type BundleTakeBack<T extends BundleEntry> =
  | { kind: "revoke"; id: string; from: RewardStatus }
  | { kind: "debt"; entry: T };

/**
 * What taking a bundle back asks of its further entries (`entries`: them and
 * their debts): an unspent one (pending or active) is revoked, a spent one
 * (redeemed, or applied as Stripe credit) gets a debt of the same amount,
 * once. Expired and revoked ones are left as they are.
 */
export function takeBackBundle<T extends BundleEntry>(entries: readonly T[]): BundleTakeBack<T>[] {
  const keys = new Set(entries.map((entry) => entry.dedupeKey));
  const actions: BundleTakeBack<T>[] = [];
  for (const entry of entries) {
    if (entry.trigger === "clawback") continue;
    const spent = entry.status === "redeemed" || entry.fulfilledAt !== null;
    if (spent) {
      if (!keys.has(`${entry.dedupeKey}:clawback`)) actions.push({ kind: "debt", entry });
    } else if (entry.status === "pending" || entry.status === "active") {
      actions.push({ kind: "revoke", id: entry.id, from: entry.status });
    }
  }
  return actions;
}

/** From a list of entries, the further entries of the bundle chosen on entry `id`, and their debts. */
export function bundleOfEntry<T extends BundleEntry & { bundleOf: string | null }>(
  entries: readonly T[],
  id: string,
): T[] {
  const parts = new Set(entries.filter((entry) => entry.bundleOf === id).map((entry) => entry.dedupeKey));
  const debt = ":clawback";
  return entries.filter(
    (entry) =>
      parts.has(entry.dedupeKey) ||
      (entry.dedupeKey.endsWith(debt) && parts.has(entry.dedupeKey.slice(0, -debt.length))),
  );
}
