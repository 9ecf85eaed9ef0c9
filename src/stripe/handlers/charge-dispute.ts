import type Stripe from "stripe";
import { idOf, ms } from "./fields";
import type { EventFacts } from "./index";

/**
 * A dispute opened or closed. A dispute names its charge but not its
 * customer: whose it is gets resolved from known charges and payments, or
 * from the Stripe API when a secret key is configured.
 */
export function chargeDispute(event: Stripe.ChargeDisputeCreatedEvent | Stripe.ChargeDisputeClosedEvent): EventFacts {
  const dispute = event.data.object;
  return {
    customerId: null,
    dispute: {
      id: dispute.id,
      chargeId: idOf(dispute.charge) as string,
      paymentIntent: idOf(dispute.payment_intent),
      status: dispute.status,
      statusAt: ms(event.created),
    },
  };
}
