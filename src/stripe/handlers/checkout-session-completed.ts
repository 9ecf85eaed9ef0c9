import type Stripe from "stripe";
import { idOf, ms } from "./fields";
import type { EventFacts } from "./index";

/**
 * A completed checkout maps its Stripe customer to the host user
 * (`client_reference_id`, else `metadata.userId`). It is a payment only in
 * `payment` mode without an invoice: subscription and invoiced checkouts are
 * paid through `invoice.paid`, and counting both would count revenue twice.
 */
export function checkoutSessionCompleted(event: Stripe.CheckoutSessionCompletedEvent): EventFacts {
  const session = event.data.object;
  const customerId = idOf(session.customer);
  const userId = session.client_reference_id ?? session.metadata?.userId ?? undefined;
  const paid =
    session.mode === "payment" &&
    session.payment_status === "paid" &&
    (session.amount_total ?? 0) > 0 &&
    !session.invoice &&
    customerId !== null;
  return {
    customerId,
    ...(userId ? { userId } : {}),
    ...(paid && customerId
      ? {
          payment: {
            id: session.id,
            customerId,
            paymentIntent: idOf(session.payment_intent),
            currency: session.currency ?? "usd",
            amount: session.amount_total ?? 0,
            paidAt: ms(event.created),
          },
        }
      : {}),
  };
}
