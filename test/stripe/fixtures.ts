import Stripe from "stripe";
import { call } from "../helpers";

/**
 * Events shaped like Stripe's for the SDK's pinned API version: the fields the
 * service reads, plus enough of the rest to look like the real thing.
 */
export const API_VERSION = Stripe.API_VERSION;
export const WEBHOOK_SECRET = "whsec_test_current_000000000000";
export const PREVIOUS_WEBHOOK_SECRET = "whsec_test_previous_00000000000";

let sequence = 0;
const nextId = (prefix: string) =>
  `${prefix}_test${(++sequence).toString(36).padStart(8, "0")}${Math.random().toString(36).slice(2, 8)}`;
const seconds = (ms: number) => Math.floor(ms / 1000);

export interface StripeEventShape {
  id: string;
  object: "event";
  api_version: string;
  created: number;
  data: { object: Record<string, unknown>; previous_attributes?: Record<string, unknown> };
  livemode: false;
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
    id,
    object: "event",
    api_version: API_VERSION,
    created: seconds(at),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: nextId("req"), idempotency_key: crypto.randomUUID() },
    type,
  };
}

export function checkoutCompleted(o: {
  userId: string | null;
  customer: string;
  at: number;
  mode?: "subscription" | "payment";
  amount?: number;
  paymentIntent?: string | null;
  metadataUserId?: string;
}): StripeEventShape {
  const mode = o.mode ?? "subscription";
  return stripeEvent(
    "checkout.session.completed",
    {
      id: nextId("cs"),
      object: "checkout.session",
      amount_subtotal: o.amount ?? 2900,
      amount_total: o.amount ?? 2900,
      client_reference_id: o.userId,
      created: seconds(o.at) - 60,
      currency: "usd",
      customer: o.customer,
      customer_creation: "always",
      customer_details: {
        email: "customer@example.com",
        name: null,
        address: null,
        phone: null,
        tax_exempt: "none",
        tax_ids: [],
      },
      invoice: mode === "subscription" ? nextId("in") : null,
      livemode: false,
      metadata: o.metadataUserId ? { userId: o.metadataUserId } : {},
      mode,
      payment_intent: mode === "payment" ? (o.paymentIntent ?? nextId("pi")) : null,
      payment_status: "paid",
      status: "complete",
      subscription: mode === "subscription" ? nextId("sub") : null,
      success_url: "https://app.example.com/billing/success",
      cancel_url: "https://app.example.com/billing",
      url: null,
    },
    o.at,
  );
}

export function invoicePaid(o: {
  customer: string;
  at: number;
  amount?: number;
  id?: string;
  subscription?: string;
  billingReason?: string;
  paymentIntent?: string;
}): StripeEventShape {
  const amount = o.amount ?? 2900;
  const id = o.id ?? nextId("in");
  return stripeEvent(
    "invoice.paid",
    {
      id,
      object: "invoice",
      account_country: "US",
      amount_due: amount,
      amount_overpaid: 0,
      amount_paid: amount,
      amount_remaining: 0,
      attempt_count: 1,
      attempted: true,
      billing_reason: o.billingReason ?? "subscription_create",
      collection_method: "charge_automatically",
      created: seconds(o.at) - 5,
      currency: "usd",
      customer: o.customer,
      customer_email: "customer@example.com",
      lines: { object: "list", data: [], has_more: false, total_count: 1, url: `/v1/invoices/${id}/lines` },
      livemode: false,
      metadata: {},
      parent: {
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
                  currency: "usd",
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

export function chargeRefunded(o: {
  customer: string;
  chargeId: string;
  chargedAt: number;
  at: number;
  amount?: number;
  amountRefunded: number;
  paymentIntent?: string;
}): StripeEventShape {
  const amount = o.amount ?? 2900;
  return stripeEvent(
    "charge.refunded",
    {
      id: o.chargeId,
      object: "charge",
      amount,
      amount_captured: amount,
      amount_refunded: o.amountRefunded,
      balance_transaction: nextId("txn"),
      captured: true,
      created: seconds(o.chargedAt),
      currency: "usd",
      customer: o.customer,
      disputed: false,
      livemode: false,
      metadata: {},
      paid: true,
      payment_intent: o.paymentIntent ?? nextId("pi"),
      payment_method: nextId("pm"),
      refunded: o.amountRefunded >= amount,
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
      id: o.disputeId,
      object: "dispute",
      amount: o.amount ?? 2900,
      charge: o.chargeId,
      created: seconds(o.at),
      currency: "usd",
      is_charge_refundable: false,
      livemode: false,
      metadata: {},
      payment_intent: o.paymentIntent ?? null,
      reason: "fraudulent",
      status: o.status,
    },
    o.at,
  );
}

export function subscriptionDeleted(o: { customer: string; at: number; subscription?: string }): StripeEventShape {
  return stripeEvent(
    "customer.subscription.deleted",
    {
      id: o.subscription ?? nextId("sub"),
      object: "subscription",
      canceled_at: seconds(o.at) - 86_400,
      cancel_at_period_end: false,
      created: seconds(o.at) - 40 * 86_400,
      currency: "usd",
      customer: o.customer,
      ended_at: seconds(o.at),
      livemode: false,
      metadata: {},
      status: "canceled",
    },
    o.at,
  );
}

export const newCustomerId = () => nextId("cus");
export const newChargeId = () => nextId("ch");
export const newDisputeId = () => nextId("dp");

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
