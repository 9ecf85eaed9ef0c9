import { z } from "zod";
import type { EventFacts } from "../facts";
import { expandable, ms, optionalExpandable, stripeId } from "./fields";

/** The part of a dispute the service reads. */
export const disputeSchema = z.looseObject({
  id: stripeId,
  charge: expandable,
  payment_intent: optionalExpandable,
  status: z.string().min(1).max(64),
});

/**
 * A dispute opened or closed. A dispute names its charge but not its
 * customer: whose it is gets resolved from known charges and payments, or
 * from the Stripe API when a secret key is configured.
 */
export function chargeDispute(dispute: z.infer<typeof disputeSchema>, createdAt: number): EventFacts {
  return {
    customerId: null,
    dispute: {
      id: dispute.id,
      chargeId: dispute.charge,
      paymentIntent: dispute.payment_intent,
      status: dispute.status,
      statusAt: ms(createdAt),
    },
  };
}
