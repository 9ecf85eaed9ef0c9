import { z } from "zod";
import type { ChargeFact } from "../../domain/conversion";
import type { Payer } from "../../domain/self-referral";
import type { EventFacts } from "../facts";
import { amount, currency, ms, optionalExpandable, stripeId, timestamp } from "./fields";

const refundSchema = z.looseObject({ created: timestamp, status: z.string().nullish() });

/** The part of a charge the service reads; `refunds` is a list Stripe may leave out. */
export const chargeSchema = z
  .looseObject({
    id: stripeId,
    customer: optionalExpandable,
    payment_intent: optionalExpandable,
    currency,
    amount,
    amount_refunded: amount,
    refunded: z.boolean(),
    created: timestamp,
    refunds: z.looseObject({ data: z.array(refundSchema) }).nullish(),
    /** Only read to tell who paid: a value that does not fit is left out, never a reason to refuse the charge. */
    payment_method_details: z
      .looseObject({ card: z.looseObject({ fingerprint: z.string().max(255).nullish() }).nullish() })
      .nullish()
      .catch(null),
    billing_details: z
      .looseObject({ email: z.string().max(512).nullish() })
      .nullish()
      .catch(null),
  })
  .refine((charge) => charge.amount_refunded <= charge.amount, {
    path: ["amount_refunded"],
    message: "more than the charge's amount",
  });

export type ParsedCharge = z.infer<typeof chargeSchema>;

/**
 * A charge as a fact. Fully refunded at its last successful refund when the
 * event carries the refund list, else at the event's time.
 */
export function chargeFact(charge: ParsedCharge, eventCreated: number | null): ChargeFact {
  const refundTimes = (charge.refunds?.data ?? [])
    .filter((refund) => refund.status == null || refund.status === "succeeded")
    .map((refund) => refund.created);
  const refundedAt = refundTimes.length > 0 ? Math.max(...refundTimes) : eventCreated;
  return {
    id: charge.id,
    customerId: charge.customer,
    paymentIntent: charge.payment_intent,
    currency: charge.currency,
    amount: charge.amount,
    amountRefunded: charge.amount_refunded,
    fullyRefundedAt: charge.refunded && refundedAt !== null ? ms(refundedAt) : null,
    createdAt: ms(charge.created),
  };
}

/** Who paid the charge: its card's fingerprint (card payments only) and its billing email, either may be null. */
export function chargePayer(charge: ParsedCharge): Payer {
  return {
    cardFingerprint: charge.payment_method_details?.card?.fingerprint ?? null,
    email: charge.billing_details?.email ?? null,
    at: ms(charge.created),
  };
}

/** A refund, full or partial: the charge's cumulative refunded amount as of this event. */
export function chargeRefunded(charge: ParsedCharge, createdAt: number): EventFacts {
  const fact = chargeFact(charge, createdAt);
  return { customerId: fact.customerId, charge: fact };
}
