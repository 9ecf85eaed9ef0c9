import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, attribute, click, countRows, createCode, flush } from "../helpers";
import {
  checkoutCompleted,
  deliver,
  invoicePaid,
  newCustomerId,
  newPromotionCodeId,
  subscriptionCreated,
  subscriptionDeleted,
} from "./fixtures";
import { expectAnyOrderEndsInOrder, referredCustomer, type Story } from "./story";

const DAY = 86_400_000;

const referralOf = (refereeId: string) =>
  env.DB.prepare(
    `SELECT code, referrer_id AS referrerId, source, status, click_id AS clickId, signed_up_at AS signedUpAt,
       converted_at AS convertedAt, canceled_at AS canceledAt, trial_ends_at AS trialEndsAt
     FROM referrals WHERE referee_id = ?`,
  )
    .bind(refereeId)
    .first<Record<string, unknown>>();

const rulesOf = async (userId: string) =>
  (
    await env.DB.prepare(`SELECT rule, "trigger" FROM rewards WHERE user_id = ? ORDER BY rule`)
      .bind(userId)
      .all<{ rule: string; trigger: string }>()
  ).results;

const counters = (code: string) =>
  env.DB.prepare("SELECT signups, conversions FROM referral_codes WHERE code = ?").bind(code).first();

/** A referrer whose code has a Stripe promotion code (as POST /api/codes leaves it when Stripe answered). */
async function promotedCode(referrerId: string, name: string) {
  const code = await createCode(referrerId, name);
  const promotionCode = newPromotionCodeId();
  await env.DB.prepare(
    "UPDATE referral_codes SET stripe_promotion_code_id = ?, stripe_promotion_code_active = 1 WHERE code = ?",
  )
    .bind(promotionCode, code)
    .run();
  return { code, promotionCode };
}

describe("free trials", () => {
  it("records a 14-day trial, never converts on its 0 invoice, and converts on the first paid one", async () => {
    const r = await referredCustomer("trial");
    const base = Date.UTC(2031, 4, 1, 10);
    expect(
      (
        await deliver(
          checkoutCompleted({
            userId: r.refereeId,
            customer: r.customer,
            at: base,
            amount: 0,
            paymentStatus: "no_payment_required",
          }),
        )
      ).body.outcome,
    ).toBe("applied");
    expect(
      (await deliver(subscriptionCreated({ customer: r.customer, at: base + 1_000, trialDays: 14 }))).body.outcome,
    ).toBe("applied");
    expect((await deliver(invoicePaid({ customer: r.customer, at: base + 2_000, amount: 0 }))).body.outcome).toBe(
      "applied",
    );

    expect(await referralOf(r.refereeId)).toMatchObject({
      status: "signed_up",
      convertedAt: null,
      trialEndsAt: base + 1_000 + 14 * DAY,
    });
    expect(await rulesOf(r.referrerId)).not.toContainEqual(expect.objectContaining({ trigger: "conversion" }));

    const paidAt = base + 14 * DAY + 5_000;
    expect((await deliver(invoicePaid({ customer: r.customer, at: paidAt, amount: 2900 }))).body.outcome).toBe(
      "applied",
    );
    expect(await referralOf(r.refereeId)).toMatchObject({ status: "converted", convertedAt: paidAt });
    expect(await rulesOf(r.referrerId)).toContainEqual(expect.objectContaining({ trigger: "conversion" }));
    expect(await counters(r.code)).toEqual({ signups: 1, conversions: 1 });
  });

  it("keeps a trial cancelled before paying unconverted, with its cancellation recorded", async () => {
    const r = await referredCustomer("cancel");
    const base = Date.UTC(2031, 5, 1, 10);
    await deliver(
      checkoutCompleted({
        userId: r.refereeId,
        customer: r.customer,
        at: base,
        amount: 0,
        paymentStatus: "no_payment_required",
      }),
    );
    await deliver(subscriptionCreated({ customer: r.customer, at: base + 1_000, trialDays: 14 }));
    await deliver(invoicePaid({ customer: r.customer, at: base + 2_000, amount: 0 }));
    expect((await deliver(subscriptionDeleted({ customer: r.customer, at: base + 10 * DAY }))).body.outcome).toBe(
      "applied",
    );

    expect(await referralOf(r.refereeId)).toMatchObject({
      status: "signed_up",
      convertedAt: null,
      canceledAt: base + 10 * DAY,
    });
    expect(await rulesOf(r.referrerId)).not.toContainEqual(expect.objectContaining({ trigger: "conversion" }));
    expect(await counters(r.code)).toEqual({ signups: 1, conversions: 0 });
  });

  it("maps the customer from a subscription's metadata.userId and keeps the trial whatever the order", async () => {
    let n = 0;
    const build = async (): Promise<Story> => {
      const r = await referredCustomer("subscr");
      // Each run in its own year: revenue is read per year.
      const base = Date.UTC(2060 + ++n, 0, 10, 9);
      return {
        name: "trial",
        base,
        code: r.code,
        referrerId: r.referrerId,
        refereeId: r.refereeId,
        labels: new Map([
          [r.customer, "customer"],
          [`in_zero_${r.customer}`, "zero-invoice"],
          [`in_paid_${r.customer}`, "paid-invoice"],
        ]),
        events: [
          subscriptionCreated({ customer: r.customer, at: base, trialDays: 14, metadataUserId: r.refereeId }),
          invoicePaid({ customer: r.customer, at: base + 1_000, amount: 0, id: `in_zero_${r.customer}` }),
          invoicePaid({ customer: r.customer, at: base + 14 * DAY, amount: 2900, id: `in_paid_${r.customer}` }),
        ],
      };
    };
    await expectAnyOrderEndsInOrder(build, 8);
  });
});

describe("checkouts that name no host user", () => {
  it("attributes a Payment Link buyer by the click forwarded as client_reference_id=ref_<token>, and converts in the same event", async () => {
    const code = await createCode("link-referrer", "link");
    const res = await click(code, { ip: "192.0.2.80", headers: { referer: "https://news.example.org/post" } });
    const token = new URL(res.headers.get("location") ?? "").searchParams.get("ref_click");
    await flush(code);
    const customer = newCustomerId();
    const event = checkoutCompleted({
      userId: null,
      reference: `ref_${token}`,
      customer,
      at: Date.now() - 60_000,
      mode: "payment",
    });

    expect(await deliver(event)).toEqual({ status: 200, body: { received: true, outcome: "applied" } });
    expect(await referralOf(customer)).toMatchObject({
      code,
      referrerId: "link-referrer",
      source: "url",
      status: "converted",
    });
    expect((await referralOf(customer))?.clickId).toMatch(/^[0-9a-f-]{36}$/);
    // The referral keeps its click's details, as one made through the API does.
    expect(
      await env.DB.prepare(
        `SELECT referrer_host AS referrerHost, agent_family AS agentFamily FROM referral_clicks
         WHERE referral_id = (SELECT id FROM referrals WHERE referee_id = ?)`,
      )
        .bind(customer)
        .first(),
    ).toEqual({ referrerHost: "news.example.org", agentFamily: "chrome" });
    const triggers = (await rulesOf("link-referrer")).map((r) => r.trigger);
    expect(triggers).toContain("signup");
    expect(triggers).toContain("conversion");
    expect((await rulesOf(customer)).length).toBeGreaterThan(0);
    expect(await counters(code)).toEqual({ signups: 1, conversions: 1 });

    // Stripe sends it again: nothing changes.
    expect((await deliver(event)).body.outcome).toBe("duplicate");
    expect(await counters(code)).toEqual({ signups: 1, conversions: 1 });
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = ?", customer)).toBe(1);
  });

  it("ignores a forged ref_<token> and leaves the buyer unattributed", async () => {
    const customer = newCustomerId();
    const forged = `ref_${"A".repeat(116)}`;
    const res = await deliver(
      checkoutCompleted({ userId: null, reference: forged, customer, at: Date.now(), mode: "payment" }),
    );
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe("deferred");
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = ?", customer)).toBe(0);
    // The held facts keep no email and no carriers.
    const held = await env.DB.prepare("SELECT payload FROM stripe_deferred_events WHERE customer_id = ?")
      .bind(customer)
      .first<{ payload: string }>();
    expect(held?.payload).not.toContain("checkout");
  });

  it("maps a checkout with only the buyer's email to the referee who signed up with it", async () => {
    const code = await createCode("mail-referrer", "mail");
    expect((await attribute({ refereeId: "mail-referee", code, email: "Sam.Mail@Example.com" })).status).toBe(201);
    const customer = newCustomerId();
    const at = Date.now() - 120_000;
    const checkout = await deliver(checkoutCompleted({ userId: null, customer, at, email: "sam.mail@example.com" }));
    expect(checkout.body.outcome).toBe("applied");
    expect(
      await countRows(
        "SELECT count(*) AS n FROM stripe_customers WHERE customer_id = ? AND user_id = 'mail-referee'",
        customer,
      ),
    ).toBe(1);

    await deliver(invoicePaid({ customer, at: at + 60_000 }));
    expect(await referralOf("mail-referee")).toMatchObject({ code, source: "code", status: "converted" });
  });

  it("maps by metadata.userId when client_reference_id is absent", async () => {
    const r = await referredCustomer("meta");
    const at = Date.now() - 120_000;
    await deliver(checkoutCompleted({ userId: null, metadataUserId: r.refereeId, customer: r.customer, at }));
    await deliver(invoicePaid({ customer: r.customer, at: at + 60_000 }));
    expect(await referralOf(r.refereeId)).toMatchObject({ status: "converted" });
  });
});

describe("promotion codes at checkout", () => {
  it("creates the referral with source promotion_code, grants signup rewards and converts it in one batch", async () => {
    const { code, promotionCode } = await promotedCode("promo-referrer", "prom");
    const customer = newCustomerId();
    const event = checkoutCompleted({
      userId: "promo-buyer",
      customer,
      at: Date.now() - 60_000,
      mode: "payment",
      promotionCodes: [promotionCode],
    });
    expect((await deliver(event)).body.outcome).toBe("applied");

    expect(await referralOf("promo-buyer")).toMatchObject({
      code,
      referrerId: "promo-referrer",
      source: "promotion_code",
      status: "converted",
      clickId: null,
    });
    const referrer = (await rulesOf("promo-referrer")).map((r) => r.trigger);
    expect(referrer).toContain("signup");
    expect(referrer).toContain("conversion");
    expect((await rulesOf("promo-buyer")).map((r) => r.trigger)).toContain("signup");
    expect(await counters(code)).toEqual({ signups: 1, conversions: 1 });
    expect((await deliver(event)).body.outcome).toBe("duplicate");
    expect(await counters(code)).toEqual({ signups: 1, conversions: 1 });
  });

  it("lets a referee keep the referral they already have: first attribution wins", async () => {
    const r = await referredCustomer("first");
    const { code, promotionCode } = await promotedCode("first-other", "othr");
    const at = Date.now() - 60_000;
    expect(
      (
        await deliver(
          checkoutCompleted({
            userId: r.refereeId,
            customer: r.customer,
            at,
            mode: "payment",
            promotionCodes: [promotionCode],
          }),
        )
      ).body.outcome,
    ).toBe("applied");
    expect(await referralOf(r.refereeId)).toMatchObject({ code: r.code, source: "code", status: "converted" });
    expect(await counters(code)).toEqual({ signups: 0, conversions: 0 });
  });

  it("refuses the code's owner paying with their own promotion code, and records it once", async () => {
    const { code, promotionCode } = await promotedCode("self-promo", "self");
    const event = checkoutCompleted({
      userId: "self-promo",
      customer: newCustomerId(),
      at: Date.now(),
      mode: "payment",
      promotionCodes: [promotionCode],
    });
    expect((await deliver(event)).body.outcome).toBe("refused");
    expect((await deliver(event)).body.outcome).toBe("duplicate");
    expect(await referralOf("self-promo")).toBeNull();
    expect(
      await countRows(
        "SELECT count(*) AS n FROM blocked_attributions WHERE code = ? AND reason = 'self_referral'",
        code,
      ),
    ).toBe(1);
    expect(await counters(code)).toEqual({ signups: 0, conversions: 0 });
  });

  it("refuses a buyer whose email is the referrer's", async () => {
    const res = await api("/api/codes", { body: { userId: "mail-promo", name: "mp", email: "owner@example.com" } });
    const { code } = (await res.json()) as { code: string };
    const promotionCode = newPromotionCodeId();
    await env.DB.prepare("UPDATE referral_codes SET stripe_promotion_code_id = ? WHERE code = ?")
      .bind(promotionCode, code)
      .run();
    const event = checkoutCompleted({
      userId: "mail-promo-buyer",
      customer: newCustomerId(),
      at: Date.now(),
      mode: "payment",
      promotionCodes: [promotionCode],
      email: "Owner@Example.com",
    });
    expect((await deliver(event)).body.outcome).toBe("refused");
    expect(await referralOf("mail-promo-buyer")).toBeNull();
    expect(
      await countRows("SELECT count(*) AS n FROM blocked_attributions WHERE code = ? AND reason = 'same_email'", code),
    ).toBe(1);
  });

  it("ends in the same state whatever order the checkout and its invoices arrive in, each twice", async () => {
    let n = 0;
    const build = async (): Promise<Story> => {
      n++;
      const referrerId = `order-promo-referrer-${n}`;
      const refereeId = `order-promo-buyer-${n}`;
      const { code, promotionCode } = await promotedCode(referrerId, "ordr");
      const customer = newCustomerId();
      const base = Date.UTC(2040 + n, 2, 10, 9);
      return {
        name: "promotion",
        base,
        code,
        referrerId,
        refereeId,
        labels: new Map([
          [customer, "customer"],
          [`in_1_${customer}`, "first-invoice"],
          [`in_2_${customer}`, "renewal"],
        ]),
        events: [
          checkoutCompleted({ userId: refereeId, customer, at: base, promotionCodes: [promotionCode] }),
          invoicePaid({ customer, at: base + 60_000, id: `in_1_${customer}` }),
          invoicePaid({ customer, at: base + 31 * DAY, id: `in_2_${customer}`, billingReason: "subscription_cycle" }),
        ],
      };
    };
    await expectAnyOrderEndsInOrder(build, 8);
  });
});
