import Stripe from "stripe";
import { call } from "../helpers";
import canonical from "./canonical.json";

/**
 * Stripe events built from Stripe's own canonical example objects
 * (canonical.json: trimmed copies of the fixtures Stripe's mock server uses),
 * overriding only ids, amounts, times and the fields a test is about.
 */
export const API_VERSION = Stripe.API_VERSION;
export const WEBHOOK_SECRET = "whsec_test_current_000000000000";
export const PREVIOUS_WEBHOOK_SECRET = "whsec_test_previous_00000000000";

// Ids only need to be unique within a test file (storage is per file): a counter is enough.
let sequence = 0;
const nextId = (prefix: string) => `${prefix}_test${(++sequence).toString(36).padStart(8, "0")}`;
const seconds = (ms: number) => Math.floor(ms / 1000);
const copy = <T>(value: T): T => structuredClone(value);

export interface StripeEventShape {
  id: string;
  object: "event";
  api_version: string | null;
  created: number;
  data: { object: Record<string, unknown>; previous_attributes?: Record<string, unknown> };
  livemode: boolean;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

export function stripeEvent(
  type: string,
  object: Record<string, unknown>,
  at: number,
  id = nextId("evt"),
): StripeEventShape {
  return {
    ...copy(canonical.event),
    id,
    object: "event",
    api_version: API_VERSION,
    created: seconds(at),
    data: { object },
    request: { id: nextId("req"), idempotency_key: nextId("idem") },
    type,
  };
}

export function checkoutCompleted(o: {
  userId: string | null;
  customer: string | null;
  at: number;
  mode?: "subscription" | "payment";
  amount?: number;
  currency?: string;
  paymentIntent?: string | null;
  paymentStatus?: "paid" | "unpaid" | "no_payment_required";
  metadataUserId?: string;
  /** A `client_reference_id` other than the user id (`ref_<token>`). */
  reference?: string;
  /** Promotion codes applied, as `discounts[].promotion_code`. */
  promotionCodes?: string[];
  email?: string;
}): StripeEventShape {
  const mode = o.mode ?? "subscription";
  const amount = o.amount ?? 2900;
  return stripeEvent(
    "checkout.session.completed",
    {
      ...copy(canonical["checkout.session"]),
      id: nextId("cs"),
      amount_subtotal: amount,
      amount_total: amount,
      client_reference_id: o.reference ?? o.userId,
      created: seconds(o.at) - 60,
      currency: o.currency ?? "usd",
      customer: o.customer,
      customer_creation: o.customer ? "always" : "if_required",
      customer_details: { ...canonical["checkout.session"].customer_details, email: o.email ?? null },
      discounts: o.promotionCodes?.map((promotionCode) => ({ coupon: null, promotion_code: promotionCode })) ?? null,
      invoice: mode === "subscription" ? nextId("in") : null,
      metadata: o.metadataUserId ? { userId: o.metadataUserId } : {},
      mode,
      payment_intent: mode === "payment" ? (o.paymentIntent ?? nextId("pi")) : null,
      payment_status: o.paymentStatus ?? "paid",
      status: "complete",
      subscription: mode === "subscription" ? nextId("sub") : null,
      url: null,
    },
    o.at,
  );
}

export function invoicePaid(o: {
  customer: string;
  at: number;
  amount?: number;
  currency?: string;
  id?: string;
  subscription?: string;
  billingReason?: string;
  paymentIntent?: string;
  /** One-off invoices have no parent. */
  oneOff?: boolean;
  /** `customer_email`: the customer's email when the invoice was finalized. */
  email?: string;
}): StripeEventShape {
  const amount = o.amount ?? 2900;
  const id = o.id ?? nextId("in");
  const currency = o.currency ?? "usd";
  return stripeEvent(
    "invoice.paid",
    {
      ...copy(canonical.invoice),
      id,
      amount_due: amount,
      amount_paid: amount,
      amount_remaining: 0,
      attempt_count: 1,
      attempted: true,
      billing_reason: o.oneOff ? "manual" : (o.billingReason ?? "subscription_create"),
      created: seconds(o.at) - 5,
      currency,
      customer: o.customer,
      customer_email: o.email ?? null,
      lines: { ...canonical.invoice.lines, url: `/v1/invoices/${id}/lines` },
      parent: o.oneOff
        ? null
        : {
            type: "subscription_details",
            quote_details: null,
            subscription_details: { metadata: {}, subscription: o.subscription ?? nextId("sub") },
          },
      ...(o.paymentIntent
        ? {
            payments: {
              object: "list",
              data: [
                {
                  id: nextId("inpay"),
                  object: "invoice_payment",
                  amount_paid: amount,
                  currency,
                  invoice: id,
                  is_default: true,
                  payment: { type: "payment_intent", payment_intent: o.paymentIntent },
                  status: "paid",
                },
              ],
              has_more: false,
              url: "/v1/invoice_payments",
            },
          }
        : {}),
      period_end: seconds(o.at),
      period_start: seconds(o.at),
      status: "paid",
      status_transitions: {
        finalized_at: seconds(o.at) - 4,
        marked_uncollectible_at: null,
        paid_at: seconds(o.at),
        voided_at: null,
      },
      subtotal: amount,
      total: amount,
    },
    o.at + 1_000,
  );
}

/** The canonical charge, captured and paid: what every charge event below starts from. */
function paidCharge(o: {
  chargeId: string;
  amount: number;
  chargedAt: number;
  customer: string | null;
  currency?: string;
  paymentIntent?: string;
}) {
  return {
    ...copy(canonical.charge),
    id: o.chargeId,
    amount: o.amount,
    amount_captured: o.amount,
    balance_transaction: nextId("txn"),
    captured: true,
    created: seconds(o.chargedAt),
    currency: o.currency ?? "usd",
    customer: o.customer,
    paid: true,
    payment_intent: o.paymentIntent ?? nextId("pi"),
    payment_method: nextId("pm"),
    status: "succeeded",
  };
}

export function chargeRefunded(o: {
  customer: string | null;
  chargeId: string;
  chargedAt: number;
  at: number;
  amount?: number;
  amountRefunded: number;
  paymentIntent?: string;
  currency?: string;
  /** The refunds, as Stripe lists them on the charge (times in ms). */
  refunds?: { amount: number; at: number }[];
}): StripeEventShape {
  const amount = o.amount ?? 2900;
  return stripeEvent(
    "charge.refunded",
    {
      ...paidCharge({ ...o, amount }),
      amount_refunded: o.amountRefunded,
      refunded: o.amountRefunded >= amount,
      refunds: {
        ...canonical.charge.refunds,
        data: (o.refunds ?? []).map((refund) => ({
          id: nextId("re"),
          object: "refund",
          amount: refund.amount,
          charge: o.chargeId,
          created: seconds(refund.at),
          currency: o.currency ?? "usd",
          status: "succeeded",
        })),
      },
      status: "succeeded",
    },
    o.at,
  );
}

/** A successful charge, as `charge.succeeded` sends it: the card's fingerprint and the billing email say who paid. */
export function chargeSucceeded(o: {
  customer: string | null;
  chargeId: string;
  at: number;
  amount?: number;
  currency?: string;
  paymentIntent?: string;
  /** `payment_method_details.card.fingerprint`; null for a card Stripe gives none for. */
  fingerprint: string | null;
  /** `billing_details.email`. */
  email?: string | null;
}): StripeEventShape {
  return stripeEvent(
    "charge.succeeded",
    {
      ...paidCharge({ ...o, amount: o.amount ?? 2900, chargedAt: o.at }),
      amount_refunded: 0,
      billing_details: { ...canonical.charge.billing_details, email: o.email ?? null },
      payment_method_details: {
        ...canonical.charge.payment_method_details,
        card: { ...canonical.charge.payment_method_details.card, fingerprint: o.fingerprint },
      },
      refunded: false,
      refunds: { ...canonical.charge.refunds, data: [], url: `/v1/charges/${o.chargeId}/refunds` },
      status: "succeeded",
    },
    o.at,
  );
}

export function disputeEvent(
  type: "charge.dispute.created" | "charge.dispute.closed",
  o: {
    disputeId: string;
    chargeId: string;
    status: string;
    at: number;
    amount?: number;
    paymentIntent?: string | null;
  },
): StripeEventShape {
  return stripeEvent(
    type,
    {
      ...copy(canonical.dispute),
      id: o.disputeId,
      amount: o.amount ?? 2900,
      charge: o.chargeId,
      created: seconds(o.at),
      payment_intent: o.paymentIntent ?? null,
      status: o.status,
    },
    o.at,
  );
}

export function subscriptionDeleted(o: { customer: string; at: number; subscription?: string }): StripeEventShape {
  return stripeEvent(
    "customer.subscription.deleted",
    {
      ...copy(canonical.subscription),
      id: o.subscription ?? nextId("sub"),
      canceled_at: seconds(o.at) - 86_400,
      cancel_at_period_end: false,
      created: seconds(o.at) - 40 * 86_400,
      customer: o.customer,
      ended_at: seconds(o.at),
      status: "canceled",
    },
    o.at,
  );
}

export function subscriptionCreated(o: {
  customer: string;
  at: number;
  trialDays?: number;
  subscription?: string;
  metadataUserId?: string;
}): StripeEventShape {
  const trialing = o.trialDays !== undefined;
  return stripeEvent(
    "customer.subscription.created",
    {
      ...copy(canonical.subscription),
      id: o.subscription ?? nextId("sub"),
      canceled_at: null,
      cancel_at_period_end: false,
      created: seconds(o.at),
      customer: o.customer,
      ended_at: null,
      metadata: o.metadataUserId ? { userId: o.metadataUserId } : {},
      start_date: seconds(o.at),
      status: trialing ? "trialing" : "active",
      trial_start: trialing ? seconds(o.at) : null,
      trial_end: trialing ? seconds(o.at) + (o.trialDays ?? 0) * 86_400 : null,
    },
    o.at,
  );
}

export function promotionCodeUpdated(o: { id: string; code: string; active: boolean; at: number }): StripeEventShape {
  return stripeEvent(
    "promotion_code.updated",
    {
      ...copy(canonical.promotion_code),
      id: o.id,
      active: o.active,
      code: o.code,
      created: seconds(o.at) - 86_400,
      expires_at: null,
      metadata: { referral_code: o.code },
      restrictions: { ...canonical.promotion_code.restrictions, first_time_transaction: true },
    },
    o.at,
  );
}

export const newCustomerId = () => nextId("cus");
export const newPromotionCodeId = () => nextId("promo");
export const newChargeId = () => nextId("ch");
export const newDisputeId = () => nextId("dp");
export const newPaymentIntentId = () => nextId("pi");

const cryptoProvider = Stripe.createSubtleCryptoProvider();

export async function signature(
  payload: string,
  options: { secret?: string; timestamp?: number } = {},
): Promise<string> {
  return Stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: options.secret ?? WEBHOOK_SECRET,
    timestamp: options.timestamp ?? seconds(Date.now()),
    cryptoProvider,
  });
}

/** Posts an event to the webhook, signed like Stripe signs it. */
export async function deliver(
  event: StripeEventShape | string,
  options: { secret?: string; timestamp?: number; signature?: string | null; bindings?: Env } = {},
): Promise<{ status: number; body: { outcome?: string; error?: { code: string; message: string } } }> {
  const payload = typeof event === "string" ? event : JSON.stringify(event, null, 2);
  const header = options.signature === undefined ? await signature(payload, options) : options.signature;
  const res = await call(
    "/webhooks/stripe",
    {
      method: "POST",
      headers: { "content-type": "application/json", ...(header === null ? {} : { "stripe-signature": header }) },
      body: payload,
    },
    options.bindings,
  );
  return { status: res.status, body: (await res.json()) as never };
}
