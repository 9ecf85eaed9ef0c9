import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runScheduled } from "../../src/scheduled";
import { API_KEY, api, call, click, countRows } from "../helpers";
import { checkoutCompleted, deliver, newCustomerId, promotionCodeUpdated } from "../stripe/fixtures";

/** The Worker with a Stripe key and a referee coupon, its Stripe API pointed at the local stub below. */
const withCoupon = {
  ...env,
  STRIPE_SECRET_KEY: "sk_test_stub_000000",
  STRIPE_API_BASE: "http://stripe.stub",
  REFEREE_COUPON: "REFEREE10",
} as Env;

interface StubCall {
  method: string;
  path: string;
  params: URLSearchParams;
  idempotencyKey: string | null;
}

/** Answers Stripe's promotion code endpoint locally; `fail` makes it answer 500. */
function stubStripe(options: { fail?: boolean } = {}) {
  const calls: StubCall[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.host !== "stripe.stub") throw new Error(`unexpected request to ${url.host}`);
    const params = new URLSearchParams(await request.text());
    calls.push({
      method: request.method,
      path: url.pathname,
      params,
      idempotencyKey: request.headers.get("idempotency-key"),
    });
    const json = (status: number, body: object) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json", "request-id": "req_stub" },
      });
    if (request.method === "POST" && url.pathname === "/v1/promotion_codes") {
      if (options.fail) return json(500, { error: { type: "api_error", message: "stub outage" } });
      return json(200, {
        id: `promo_stub_${params.get("code")}`,
        object: "promotion_code",
        active: true,
        code: params.get("code"),
        metadata: { referral_code: params.get("metadata[referral_code]") },
        restrictions: { first_time_transaction: true, minimum_amount: null, minimum_amount_currency: null },
        promotion: { type: "coupon", coupon: params.get("promotion[coupon]") },
      });
    }
    return json(404, { error: { type: "invalid_request_error", message: "no such endpoint" } });
  });
  return calls;
}

const post = (bindings: Env, body: object) =>
  call(
    "/api/codes",
    {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    },
    bindings,
  );
const get = (bindings: Env, code: string) =>
  call(`/api/codes/${code}`, { headers: { authorization: `Bearer ${API_KEY}` } }, bindings);

afterEach(() => {
  vi.restoreAllMocks();
});

describe("a Stripe promotion code per referral code", () => {
  it("creates one, restricted to first-time transactions, named like the code, with an idempotency key", async () => {
    const calls = stubStripe();
    const res = await post(withCoupon, { userId: "promo-user-1", name: "Pat" });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { code: string; promotionCode: unknown };
    expect(body.promotionCode).toEqual({ id: `promo_stub_${body.code}`, active: true, error: null });

    expect(calls).toHaveLength(1);
    const [sent] = calls;
    expect(sent).toMatchObject({
      method: "POST",
      path: "/v1/promotion_codes",
      idempotencyKey: `referral-promotion-code-${body.code}`,
    });
    expect(Object.fromEntries(sent?.params ?? [])).toEqual({
      "promotion[type]": "coupon",
      "promotion[coupon]": "REFEREE10",
      code: body.code,
      "restrictions[first_time_transaction]": "true",
      "metadata[referral_code]": body.code,
      "metadata[referrer_id]": "promo-user-1",
    });
    const stored = await env.DB.prepare(
      "SELECT stripe_promotion_code_id AS id, stripe_promotion_code_active AS active, promotion_code_error AS error FROM referral_codes WHERE code = ?",
    )
      .bind(body.code)
      .first();
    expect(stored).toEqual({ id: `promo_stub_${body.code}`, active: 1, error: null });

    // A second POST for the same user returns the code and its promotion code; Stripe is not asked again.
    const again = await post(withCoupon, { userId: "promo-user-1", name: "Pat" });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { promotionCode: unknown }).promotionCode).toEqual(body.promotionCode);
    expect(calls).toHaveLength(1);

    const shown = await get(withCoupon, body.code);
    expect(shown.status).toBe(200);
    expect(((await shown.json()) as { promotionCode: unknown }).promotionCode).toEqual({
      id: `promo_stub_${body.code}`,
      active: true,
      error: null,
    });
  });

  it("keeps the code working while Stripe fails, and the cron creates it later with the same key", async () => {
    let calls = stubStripe({ fail: true });
    const res = await post(withCoupon, { userId: "promo-user-2", name: "Quin" });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { code: string; promotionCode: unknown };
    expect(body.promotionCode).toEqual({ id: null, active: null, error: "StripeAPIError 500" });
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((sent) => sent.idempotencyKey === `referral-promotion-code-${body.code}`)).toBe(true);

    // The share link works meanwhile.
    const clicked = await click(body.code, {}, withCoupon);
    expect(clicked.status).toBe(302);
    expect(new URL(clicked.headers.get("location") ?? "").searchParams.get("ref")).toBe(body.code);

    vi.restoreAllMocks();
    calls = stubStripe();
    const run = await runScheduled(withCoupon, Date.now());
    expect(run.promotionCodes).toEqual({ created: 1, failed: 0 });
    expect(calls.map((sent) => sent.idempotencyKey)).toEqual([`referral-promotion-code-${body.code}`]);
    const shown = await get(withCoupon, body.code);
    expect(((await shown.json()) as { promotionCode: unknown }).promotionCode).toEqual({
      id: `promo_stub_${body.code}`,
      active: true,
      error: null,
    });

    // Nothing is left to retry.
    expect((await runScheduled(withCoupon, Date.now())).promotionCodes).toEqual({ created: 0, failed: 0 });
    expect(calls).toHaveLength(1);
  });

  it("shows the latest of promotion_code.updated events as active, in any order, once each", async () => {
    stubStripe();
    const res = await post(withCoupon, { userId: "promo-user-5", name: "Tam" });
    const { code, promotionCode } = (await res.json()) as { code: string; promotionCode: { id: string } };
    vi.restoreAllMocks();
    const at = Date.now() - 3_600_000;
    const off = promotionCodeUpdated({ id: promotionCode.id, code, active: false, at: at + 60_000 });
    const on = promotionCodeUpdated({ id: promotionCode.id, code, active: true, at });
    const active = async () =>
      ((await (await get(withCoupon, code)).json()) as { promotionCode: { active: boolean } }).promotionCode.active;

    expect(await deliver(off)).toEqual({ status: 200, body: { received: true, outcome: "applied" } });
    expect(await active()).toBe(false);
    // The older event, arriving late, changes nothing; a replay is a duplicate.
    expect((await deliver(on)).body.outcome).toBe("applied");
    expect(await active()).toBe(false);
    expect((await deliver(off)).body.outcome).toBe("duplicate");
    expect(await active()).toBe(false);
  });

  it("names the promotion code in the signup URL as promo, for the host's Checkout to pre-apply", async () => {
    stubStripe();
    const res = await post(withCoupon, { userId: "promo-user-3", name: "Ray" });
    const { code } = (await res.json()) as { code: string };
    const clicked = await click(code, {}, withCoupon);
    const location = new URL(clicked.headers.get("location") ?? "");
    expect(location.searchParams.get("promo")).toBe(code);
    expect(location.searchParams.get("ref")).toBe(code);
  });

  it("asks Stripe nothing and answers as before without a coupon", async () => {
    const calls = stubStripe();
    const res = await post({ ...withCoupon, REFEREE_COUPON: "" } as Env, { userId: "promo-user-4", name: "Sol" });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty("promotionCode");
    expect(calls).toHaveLength(0);
    const clicked = await click(body.code as string);
    expect(new URL(clicked.headers.get("location") ?? "").searchParams.has("promo")).toBe(false);
    expect(
      await countRows(
        "SELECT count(*) AS n FROM referral_codes WHERE user_id = 'promo-user-4' AND stripe_promotion_code_id IS NULL AND promotion_code_error IS NULL",
      ),
    ).toBe(1);
  });
});

describe("a referee who pays with the referrer's promotion code, end to end", () => {
  it("is referred at checkout by source promotion_code, rewarded on both sides, converted, and counted in bySource", async () => {
    stubStripe();
    const created = await post(withCoupon, { userId: "e2e-referrer", name: "Uma" });
    const { code, promotionCode } = (await created.json()) as { code: string; promotionCode: { id: string } };
    // The referee clicks on another device, keeps the discount, and signs up somewhere the cookie never reaches.
    const clicked = await click(code, { ip: "192.0.2.99" }, withCoupon);
    expect(new URL(clicked.headers.get("location") ?? "").searchParams.get("promo")).toBe(code);
    vi.restoreAllMocks();

    const checkout = checkoutCompleted({
      userId: "e2e-referee",
      customer: newCustomerId(),
      at: Date.now() - 5_000,
      mode: "payment",
      amount: 2610,
      promotionCodes: [promotionCode.id],
    });
    expect(await deliver(checkout)).toEqual({ status: 200, body: { received: true, outcome: "applied" } });

    const referral = await env.DB.prepare(
      "SELECT code, referrer_id AS referrerId, source, status FROM referrals WHERE referee_id = 'e2e-referee'",
    ).first();
    expect(referral).toEqual({ code, referrerId: "e2e-referrer", source: "promotion_code", status: "converted" });
    const triggers = await env.DB.prepare(
      `SELECT user_id AS userId, "trigger" FROM rewards WHERE referral_id IN (SELECT id FROM referrals WHERE referee_id = 'e2e-referee') ORDER BY user_id, "trigger"`,
    ).all<{ userId: string; trigger: string }>();
    expect(new Set(triggers.results.map((r) => `${r.userId}:${r.trigger}`))).toEqual(
      new Set(["e2e-referee:signup", "e2e-referrer:signup", "e2e-referrer:conversion"]),
    );

    const today = new Date().toISOString().slice(0, 10);
    const stats = (await (await api(`/api/stats?from=${today}&to=${today}`)).json()) as {
      bySource: Record<string, { signups: number; conversions: number }>;
    };
    expect(stats.bySource.promotion_code).toEqual({ signups: 1, conversions: 1 });
  });
});
