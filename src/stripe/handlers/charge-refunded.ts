import type Stripe from "stripe";
import type { ChargeFact } from "../../domain/conversion";
import { idOf, ms } from "./fields";
import type { EventFacts } from "./index";

/** A charge as a fact; null for a charge without a customer (nobody to attribute it to). */
export function chargeFact(charge: Stripe.Charge, fullyRefundedAt: number | null): ChargeFact | null {
  const customerId = idOf(charge.customer);
  if (!customerId) return null;
  return {
    id: charge.id,
    customerId,
    paymentIntent: idOf(charge.payment_intent),
    currency: charge.currency,
    amount: charge.amount,
    amountRefunded: charge.amount_refunded,
    fullyRefundedAt,
    createdAt: ms(charge.created),
  };
}

/** A refund, full or partial: the charge's cumulative refunded amount as of this event. */
export function chargeRefunded(event: Stripe.ChargeRefundedEvent): EventFacts {
  const charge = event.data.object;
  const fact = chargeFact(charge, charge.refunded ? ms(event.created) : null);
  return { customerId: fact?.customerId ?? null, ...(fact ? { charge: fact } : {}) };
}
