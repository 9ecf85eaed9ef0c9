import type { PaymentIdentityKind } from "../db/schema";
import { hmacSign, toHex } from "./crypto";
import { emailHash } from "./email";

/**
 * Self-referral found at payment time. At attribution the service refuses a
 * referee who is visibly the referrer (the same user id, email, browser or
 * click); a referrer who signs up a second account with another email from
 * another browser passes. They usually pay with their own card or billing
 * email, though, and Stripe says which: a charge's card fingerprint
 * (`payment_method_details.card.fingerprint`, the same for one card number
 * across customers of an account) and the payer's billing email. Both are
 * kept only as keyed hashes, for every payer, and a referee sharing one with
 * their referrer makes the referral a self-referral. No I/O here but hashing.
 */

/** What one payment says about who paid, as Stripe sent it: never stored. */
export interface Payer {
  cardFingerprint: string | null;
  email: string | null;
  /** The payment's time (ms). */
  at: number;
}

/** A card or an email a user paid with (or, for their emails, signed up with), hashed. */
export interface PaymentIdentity {
  kind: PaymentIdentityKind;
  hash: string;
  /** The earliest time it is known for the user. */
  seenAt: number;
}

/** The reason recorded on the referral and in the console's fraud review. */
export const SELF_REFERRAL_PAYMENT = "self_referral_payment";

/** A payment's card and billing email as identities: keyed hashes, so equal values compare equal and nothing else. */
export async function payerIdentities(secret: string, payer: Payer): Promise<PaymentIdentity[]> {
  const identities: PaymentIdentity[] = [];
  const fingerprint = payer.cardFingerprint?.trim();
  if (fingerprint) {
    identities.push({ kind: "card", hash: toHex(await hmacSign(secret, `card:${fingerprint}`)), seenAt: payer.at });
  }
  const email = payer.email?.trim();
  if (email?.includes("@")) identities.push({ kind: "email", hash: await emailHash(secret, email), seenAt: payer.at });
  return identities;
}

/** Sightings of the same identity for one user: the earliest wins. */
export function mergeIdentities(identities: readonly PaymentIdentity[]): PaymentIdentity[] {
  const byKey = new Map<string, PaymentIdentity>();
  for (const identity of identities) {
    const key = `${identity.kind}:${identity.hash}`;
    const known = byKey.get(key);
    if (!known || identity.seenAt < known.seenAt) byKey.set(key, identity);
  }
  return [...byKey.values()];
}

/**
 * When the referral became a self-referral: the first moment at which the
 * referee and the referrer had both used one same card or email (the later of
 * the two sightings, the earliest such moment over all shared identities);
 * null if they share none. A function of the identities alone, so the answer
 * is the same whichever payment Stripe delivered first.
 */
export function selfReferralAt(
  referee: readonly PaymentIdentity[],
  referrer: readonly PaymentIdentity[],
): number | null {
  const theirs = new Map<string, number>();
  for (const identity of mergeIdentities(referrer)) theirs.set(`${identity.kind}:${identity.hash}`, identity.seenAt);
  let at: number | null = null;
  for (const identity of mergeIdentities(referee)) {
    const other = theirs.get(`${identity.kind}:${identity.hash}`);
    if (other === undefined) continue;
    const both = Math.max(identity.seenAt, other);
    if (at === null || both < at) at = both;
  }
  return at;
}

/**
 * Whether a self-referral found at `fraudAt` takes back a reward earned at
 * `earnedAt`, and from when: as a refund would, within `clawbackMs` of the
 * payment (or signup) that earned it; a reward earned after it was found is
 * taken back at once. Null when it is left alone.
 */
export function selfReferralClawback(fraudAt: number | null, earnedAt: number, clawbackMs: number): number | null {
  if (fraudAt === null || fraudAt - earnedAt > clawbackMs) return null;
  return Math.max(fraudAt, earnedAt);
}
