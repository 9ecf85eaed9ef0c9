import type { ChargeFact, DisputeFact, PaymentFact } from "../domain/conversion";
import type { Payer, PaymentIdentity } from "../domain/self-referral";

/** What one event tells us, before we know whose it is. */
export interface EventFacts {
  customerId: string | null;
  /** Only a checkout names the host user: it is how customers get mapped to users. */
  userId?: string;
  payment?: PaymentFact;
  charge?: ChargeFact;
  dispute?: DisputeFact;
  canceledAt?: number;
  /** When the subscription's free trial ends (a trialing subscription). */
  trialEndsAt?: number;
  /** A promotion code switched on or off, as of the event's time. */
  promotionCode?: { id: string; active: boolean; at: number };
  /** What a checkout carries that can attribute a buyer who has no referral yet. */
  checkout?: CheckoutCarriers;
  /** The card and billing email the payment was made with, as Stripe sent them: hashed into `identities` at once. */
  payer?: Payer;
  /** The payer's card and email as keyed hashes (see domain/self-referral.ts): what is kept, deferred included. */
  identities?: PaymentIdentity[];
}

/**
 * A checkout's attribution carriers. `email` is the buyer's address as Stripe
 * sent it: it is hashed with the service's key before any use and never stored.
 */
export interface CheckoutCarriers {
  /** The checkout's time (ms): when a referral it creates signed up. */
  at: number;
  /** A click token forwarded as `client_reference_id = ref_<token>`. */
  token?: string;
  /** Ids of the promotion codes the checkout applied. */
  promotionCodes: string[];
  email?: string;
}

/** A signed event whose object does not have the shape the service reads. */
export interface Unprocessable {
  unprocessable: true;
  /** The first failing field, as a path into the event (`data.object.currency`). */
  field: string;
  reason: string;
}

export type ReadResult = EventFacts | Unprocessable | null;

export const isUnprocessable = (result: ReadResult): result is Unprocessable =>
  result !== null && "unprocessable" in result;
