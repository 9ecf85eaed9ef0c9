import type Stripe from "stripe";
import { idOf, ms } from "./fields";
import type { EventFacts } from "./index";

/** A refund, full or partial: the charge's cumulative refunded amount as of this event. */
export function chargeRefunded(event: Stripe.ChargeRefundedEvent): EventFacts {
  const charge = event.data.object;
  const customerId = idOf(charge.customer);
  return {
    customerId,
    ...(customerId
      ? {
          charge: {
            id: charge.id,
            customerId,
            paymentIntent: idOf(charge.payment_intent),
            currency: charge.currency,
            amount: charge.amount,
            amountRefunded: charge.amount_refunded,
            fullyRefundedAt: charge.refunded ? ms(event.created) : null,
            createdAt: ms(charge.created),
          },
        }
      : {}),
  };
}
