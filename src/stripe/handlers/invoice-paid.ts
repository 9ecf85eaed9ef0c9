import { z } from "zod";
import type { EventFacts } from "../facts";
import { amount, currency, ms, optionalExpandable, stripeId, timestamp } from "./fields";

const invoicePaymentSchema = z.looseObject({
  payment: z.looseObject({ type: z.string(), payment_intent: optionalExpandable }),
});

/**
 * The part of an invoice the service reads. `status_transitions`, `payments`
 * and `parent` are left out or null on some invoices (one-off invoices have
 * no parent; `payments` is only there when included).
 */
export const invoiceSchema = z.looseObject({
  id: stripeId,
  customer: optionalExpandable,
  currency,
  amount_paid: amount,
  status_transitions: z.looseObject({ paid_at: timestamp.nullish() }).nullish(),
  payments: z.looseObject({ data: z.array(invoicePaymentSchema) }).nullish(),
  /** Older API versions name the payment intent on the invoice itself. */
  payment_intent: optionalExpandable,
  /** The customer's email as the invoice was finalized: who paid. Left out when it does not fit. */
  customer_email: z.string().max(512).nullish().catch(null),
});

/**
 * Every paid invoice of a referee is revenue; the first above zero converts
 * (a 100 % coupon or a trial's invoice pays 0 and never does). Its payment
 * intent is only in the payload when `payments` was included, so refunds are
 * otherwise matched by amount and time (see chargeOfPayment).
 */
export function invoicePaid(invoice: z.infer<typeof invoiceSchema>, createdAt: number): EventFacts {
  const customerId = invoice.customer;
  if (!customerId) return { customerId: null };
  const payment = invoice.payments?.data.find((entry) => entry.payment.type === "payment_intent");
  const paidAt = ms(invoice.status_transitions?.paid_at ?? createdAt);
  return {
    customerId,
    payment: {
      id: invoice.id,
      customerId,
      paymentIntent: payment?.payment.payment_intent ?? invoice.payment_intent,
      currency: invoice.currency,
      amount: invoice.amount_paid,
      paidAt,
    },
    ...(invoice.amount_paid > 0
      ? { payer: { cardFingerprint: null, email: invoice.customer_email ?? null, at: paidAt } }
      : {}),
  };
}
