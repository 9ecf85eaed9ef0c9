import type Stripe from "stripe";
import { idOf, ms } from "./fields";
import type { EventFacts } from "./index";

/**
 * Every paid invoice of a referee is revenue; the first above zero converts.
 * Its payment intent is only in the payload when `payments` was included, so
 * refunds are otherwise matched by amount and time (see chargeOfPayment).
 */
export function invoicePaid(event: Stripe.InvoicePaidEvent): EventFacts {
  const invoice = event.data.object;
  const customerId = idOf(invoice.customer);
  const payment = invoice.payments?.data.find((entry) => entry.payment.type === "payment_intent");
  return {
    customerId,
    ...(customerId
      ? {
          payment: {
            id: invoice.id as string,
            customerId,
            paymentIntent: idOf(payment?.payment.payment_intent),
            currency: invoice.currency,
            amount: invoice.amount_paid,
            paidAt: ms(invoice.status_transitions.paid_at ?? event.created),
          },
        }
      : {}),
  };
}
