import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config";
import { createDb } from "../../src/db/client";
import { fulfilCredits } from "../../src/services/fulfilment";
import { processStripeEvent } from "../../src/services/stripe-events";
import { stripeClient } from "../../src/stripe/client";
import { testBindings } from "../bindings";
import { attribute, countRows, createCode } from "../helpers";
import {
  checkoutCompleted,
  deliver,
  disputeEvent,
  invoicePaid,
  newChargeId,
  newCustomerId,
  newDisputeId,
} from "../stripe/fixtures";

/** The service with a Stripe key, its API pointed at a local stub (the fetch spy below). */
const config = parseConfig({
  ...testBindings,
  STRIPE_SECRET_KEY: "sk_test_stub_000000",
  STRIPE_API_BASE: "http://stripe.stub",
});
const deps = () => ({ db: createDb(env.DB), config, stripe: stripeClient(config) });

interface StubCall {
  method: string;
  path: string;
  body: string;
  idempotencyKey: string | null;
}

/** Answers Stripe API calls locally; `fail` makes the balance endpoint answer 500. */
function stubStripe(options: { fail?: boolean; charges?: Record<string, object> } = {}) {
  const calls: StubCall[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.host !== "stripe.stub") throw new Error(`unexpected request to ${url.host}`);
    calls.push({
      method: request.method,
      path: url.pathname,
      body: await request.text(),
      idempotencyKey: request.headers.get("idempotency-key"),
    });
    const json = (status: number, body: object) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json", "request-id": "req_stub" },
      });
    const balance = url.pathname.match(/^\/v1\/customers\/([^/]+)\/balance_transactions$/);
    if (balance) {
      if (options.fail) return json(500, { error: { type: "api_error", message: "stub outage" } });
      return json(200, { id: `cbtxn_${calls.length}`, object: "customer_balance_transaction", customer: balance[1] });
    }
    const charge = url.pathname.match(/^\/v1\/charges\/([^/]+)$/);
    if (charge?.[1] && options.charges?.[charge[1]]) return json(200, options.charges[charge[1]] as object);
    return json(404, { error: { type: "invalid_request_error", message: "no such object" } });
  });
  return calls;
}

/** A referrer who is a Stripe customer, and a referee whose first invoice converts. */
async function convertedReferral(name: string) {
  const referrerId = `${name}-referrer`;
  const refereeId = `${name}-referee`;
  const code = await createCode(referrerId, name.slice(0, 4));
  await attribute({ refereeId, code });
  const referrerCustomer = newCustomerId();
  const refereeCustomer = newCustomerId();
  const at = Math.floor(Date.now() / 1000) * 1000 - 86_400_000;
  await deliver(checkoutCompleted({ userId: referrerId, customer: referrerCustomer, at }));
  await deliver(checkoutCompleted({ userId: refereeId, customer: refereeCustomer, at }));
  await deliver(invoicePaid({ customer: refereeCustomer, at: at + 60_000 }));
  return { referrerId, refereeId, referrerCustomer, refereeCustomer, at };
}

const creditReward = (userId: string) =>
  env.DB.prepare(
    `SELECT id, status, fulfilled_at AS fulfilledAt, external_ref AS externalRef FROM rewards WHERE user_id = ? AND "trigger" = 'conversion'`,
  )
    .bind(userId)
    .first<{ id: string; status: string; fulfilledAt: number | null; externalRef: string | null }>();

afterEach(() => {
  vi.restoreAllMocks();
});

describe("applying credit in Stripe", () => {
  it("credits the referrer's customer balance once and marks the reward redeemed", async () => {
    const r = await convertedReferral("fulfil");
    const calls = stubStripe();

    expect(await fulfilCredits(deps(), Date.now(), r.referrerId)).toEqual({ applied: 1, failed: 0 });
    const reward = await creditReward(r.referrerId);
    expect(reward).toMatchObject({ status: "redeemed", externalRef: "cbtxn_1" });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      method: "POST",
      path: `/v1/customers/${r.referrerCustomer}/balance_transactions`,
      idempotencyKey: `referral-reward-${reward?.id}`,
    });
    expect(new URLSearchParams(calls[0]?.body).get("amount")).toBe("-1000");
    expect(new URLSearchParams(calls[0]?.body).get("currency")).toBe("usd");

    // Nothing left to do on the next run.
    expect(await fulfilCredits(deps(), Date.now(), r.referrerId)).toEqual({ applied: 0, failed: 0 });
  });

  it("keeps the reward active when Stripe fails, and applies it on a later run", async () => {
    const r = await convertedReferral("outage");
    stubStripe({ fail: true });
    expect(await fulfilCredits(deps(), Date.now(), r.referrerId)).toEqual({ applied: 0, failed: 1 });
    expect(await creditReward(r.referrerId)).toMatchObject({ status: "active", fulfilledAt: null });

    vi.restoreAllMocks();
    stubStripe();
    expect(await fulfilCredits(deps(), Date.now(), r.referrerId)).toEqual({ applied: 1, failed: 0 });
    expect(await creditReward(r.referrerId)).toMatchObject({ status: "redeemed" });
  });

  it("does nothing without a secret key", async () => {
    const r = await convertedReferral("nokey");
    const calls = stubStripe();
    const noKey = { db: createDb(env.DB), config: parseConfig(testBindings), stripe: null };
    expect(await fulfilCredits(noKey, Date.now(), r.referrerId)).toEqual({ applied: 0, failed: 0 });
    expect(calls).toHaveLength(0);
    expect(await creditReward(r.referrerId)).toMatchObject({ status: "active" });
  });
});

describe("disputes through the Stripe API", () => {
  it("looks up an unknown disputed charge and holds the conversion reward", async () => {
    const r = await convertedReferral("lookup");
    const chargeId = newChargeId();
    const calls = stubStripe({
      charges: {
        [chargeId]: {
          id: chargeId,
          object: "charge",
          amount: 2900,
          amount_refunded: 0,
          created: Math.floor((r.at + 61_000) / 1000),
          currency: "usd",
          customer: r.refereeCustomer,
          payment_intent: "pi_lookup",
          refunded: false,
        },
      },
    });
    const event = disputeEvent("charge.dispute.created", {
      disputeId: newDisputeId(),
      chargeId,
      status: "needs_response",
      at: Date.now(),
    });

    const result = await processStripeEvent(deps(), event as never, Date.now());

    expect(result.outcome).toBe("applied");
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([`GET /v1/charges/${chargeId}`]);
    expect(await creditReward(r.referrerId)).toMatchObject({ status: "pending" });
    expect(await countRows("SELECT count(*) AS n FROM stripe_disputes WHERE user_id = ?", r.refereeId)).toBe(1);
  });

  it("keeps a dispute unresolved, answering 200, when Stripe has no such charge (another account's or mode's)", async () => {
    const calls = stubStripe();
    const chargeId = newChargeId();
    const disputeId = newDisputeId();
    const event = disputeEvent("charge.dispute.created", {
      disputeId,
      chargeId,
      status: "needs_response",
      at: Date.now(),
    });

    const result = await processStripeEvent(deps(), event as never, Date.now());

    expect(result.outcome).toBe("unresolved");
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([`GET /v1/charges/${chargeId}`]);
    expect(
      await countRows("SELECT count(*) AS n FROM stripe_disputes WHERE id = ? AND user_id IS NULL", disputeId),
    ).toBe(1);
  });
});
