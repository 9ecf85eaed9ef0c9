import { z } from "zod";
import type { EventFacts } from "../facts";
import { amount, currency, hostUserId, ms, optionalExpandable, stripeId } from "./fields";

/** The part of a Checkout Session the service reads. */
export const checkoutSessionSchema = z
  .looseObject({
    id: stripeId,
    mode: z.string().min(1).max(64),
    payment_status: z.string().min(1).max(64),
    customer: optionalExpandable,
    client_reference_id: hostUserId.nullish(),
    metadata: z.record(z.string(), z.unknown()).nullish(),
    amount_total: amount.nullish(),
    currency: currency.nullish(),
    invoice: optionalExpandable,
    payment_intent: optionalExpandable,
    discounts: z.array(z.looseObject({ promotion_code: optionalExpandable })).nullish(),
    /** Only there when the integration expanded it. */
    total_details: z
      .looseObject({
        breakdown: z
          .looseObject({
            discounts: z.array(
              z.looseObject({ discount: z.looseObject({ promotion_code: optionalExpandable }).nullish() }),
            ),
          })
          .nullish(),
      })
      .nullish(),
    customer_details: z.looseObject({ email: z.string().max(512).nullish() }).nullish(),
    customer_email: z.string().max(512).nullish(),
  })
  .superRefine((session, ctx) => {
    const userId = session.metadata?.userId;
    if (userId !== undefined && !hostUserId.safeParse(userId).success) {
      ctx.addIssue({ code: "custom", path: ["metadata", "userId"], message: "not a valid user id" });
    }
    if (isPaid(session) && !session.currency) {
      ctx.addIssue({ code: "custom", path: ["currency"], message: "a paid session needs its currency" });
    }
  });

type ParsedSession = z.infer<typeof checkoutSessionSchema>;

/**
 * A one-off payment: subscription and invoiced checkouts are paid through
 * `invoice.paid`, and counting both would count revenue twice. A free trial
 * (`no_payment_required`) maps the customer and pays nothing.
 */
function isPaid(session: Pick<ParsedSession, "mode" | "payment_status" | "amount_total" | "invoice">): boolean {
  return (
    session.mode === "payment" &&
    session.payment_status === "paid" &&
    (session.amount_total ?? 0) > 0 &&
    !session.invoice
  );
}

/** The `client_reference_id` prefix of a forwarded click token. */
export const CLICK_REFERENCE = "ref_";

/**
 * A completed checkout maps its Stripe customer to the host user
 * (`client_reference_id`, else `metadata.userId`; see services/checkout-attribution.ts
 * for a checkout that names neither). Stripe leaves `customer`
 * null in payment mode unless the integration asks for one: the session is
 * still the user's payment, tied to later refunds by its payment intent.
 */
export function checkoutSessionCompleted(session: ParsedSession, createdAt: number): EventFacts {
  const metadataUserId = session.metadata?.userId;
  const reference = session.client_reference_id ?? undefined;
  // `ref_<token>` is a click the host forwarded (a Payment Link has no user to name), not a user id.
  const token = reference?.startsWith(CLICK_REFERENCE) ? reference.slice(CLICK_REFERENCE.length) : undefined;
  const userId =
    (token === undefined ? reference : undefined) ?? (typeof metadataUserId === "string" ? metadataUserId : undefined);
  const promotionCodes = new Set<string>();
  for (const discount of session.discounts ?? [])
    if (discount.promotion_code) promotionCodes.add(discount.promotion_code);
  for (const entry of session.total_details?.breakdown?.discounts ?? []) {
    if (entry.discount?.promotion_code) promotionCodes.add(entry.discount.promotion_code);
  }
  const email = session.customer_details?.email ?? session.customer_email ?? undefined;
  return {
    customerId: session.customer,
    ...(userId ? { userId } : {}),
    checkout: {
      at: ms(createdAt),
      ...(token ? { token } : {}),
      promotionCodes: [...promotionCodes].sort(),
      ...(email ? { email } : {}),
    },
    // Whoever paid (here or through the subscription's first invoice) gave this billing email.
    ...(session.payment_status === "paid" && (session.amount_total ?? 0) > 0 && email
      ? { payer: { cardFingerprint: null, email, at: ms(createdAt) } }
      : {}),
    ...(isPaid(session) && session.currency
      ? {
          payment: {
            id: session.id,
            customerId: session.customer,
            paymentIntent: session.payment_intent,
            currency: session.currency,
            amount: session.amount_total ?? 0,
            paidAt: ms(createdAt),
          },
        }
      : {}),
  };
}
