import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, attribute, countRows, createCode } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  disputeEvent,
  invoicePaid,
  newChargeId,
  newCustomerId,
  newDisputeId,
  PREVIOUS_WEBHOOK_SECRET,
  stripeEvent,
  subscriptionDeleted,
} from "../stripe/fixtures";
import { disputeStory, expectAnyOrderEndsInOrder, play, refundStory } from "../stripe/story";

const DAY = 86_400_000;
const processedEvents = () => countRows("SELECT count(*) AS n FROM stripe_events");

/** A referrer with a code and a referee attributed to it. */
async function referral(name: string) {
  const referrerId = `${name}-referrer`;
  const refereeId = `${name}-referee`;
  const code = await createCode(referrerId, name.slice(0, 4));
  await attribute({ refereeId, code });
  return {
    referrerId,
    refereeId,
    code,
    customer: newCustomerId(),
    base: Math.floor(Date.now() / 1000) * 1000 - 60 * DAY,
  };
}

async function conversionReward(referrerId: string) {
  return env.DB.prepare(
    `SELECT id, status, amount, trigger_id AS triggerId FROM rewards WHERE user_id = ? AND "trigger" = 'conversion'`,
  )
    .bind(referrerId)
    .first<{ id: string; status: string; amount: number; triggerId: string }>();
}

/** A small refund of the converting payment: how a charge id becomes known without a Stripe key. */
async function refundSmallPart(r: Awaited<ReturnType<typeof referral>>, chargeId: string, at: number) {
  await deliver(
    chargeRefunded({ customer: r.customer, chargeId, chargedAt: r.base + 61_000, at, amountRefunded: 100 }),
  );
}

async function referralRow(refereeId: string) {
  return env.DB.prepare("SELECT * FROM referrals WHERE referee_id = ?")
    .bind(refereeId)
    .first<Record<string, unknown>>();
}

describe("POST /webhooks/stripe: signatures", () => {
  const event = () => stripeEvent("invoice.paid", { id: "in_x", object: "invoice" }, Date.now());

  it("refuses a missing signature with 400 and writes nothing", async () => {
    const before = await processedEvents();
    const res = await deliver(event(), { signature: null });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe("invalid_signature");
    expect(await processedEvents()).toBe(before);
  });

  it("refuses a signature made with another secret", async () => {
    const before = await processedEvents();
    const res = await deliver(event(), { secret: "whsec_somebody_else_000000000000" });
    expect(res.status).toBe(400);
    expect(await processedEvents()).toBe(before);
  });

  it("refuses a body changed after signing", async () => {
    const original = JSON.stringify(event());
    const { signature } = await import("../stripe/fixtures");
    const header = await signature(original);
    const res = await deliver(original.replace("in_x", "in_y"), { signature: header });
    expect(res.status).toBe(400);
  });

  it("refuses a signature older than 300 seconds", async () => {
    const res = await deliver(event(), { timestamp: Math.floor(Date.now() / 1000) - 301 });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe("invalid_signature");
  });

  it("refuses malformed JSON even when signed", async () => {
    const before = await processedEvents();
    const res = await deliver('{"id": "evt_1", "type": ');
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe("invalid_json");
    expect(await processedEvents()).toBe(before);
  });

  it("refuses signed JSON that is not an event", async () => {
    const res = await deliver(JSON.stringify({ hello: "world" }));
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe("invalid_event");
  });

  it("accepts the previous secret during a rotation", async () => {
    const res = await deliver(stripeEvent("customer.created", { id: "cus_rot", object: "customer" }, Date.now()), {
      secret: PREVIOUS_WEBHOOK_SECRET,
    });
    expect(res.status).toBe(200);
  });
});

describe("POST /webhooks/stripe: events", () => {
  it("acknowledges an irrelevant event and records only that it was processed", async () => {
    const e = stripeEvent("customer.updated", { id: "cus_1", object: "customer" }, Date.now());
    const res = await deliver(e);
    expect(res).toEqual({ status: 200, body: { received: true, outcome: "ignored" } });
    expect(await countRows("SELECT count(*) AS n FROM stripe_events WHERE id = ?", e.id)).toBe(1);
  });

  it("writes nothing but the mapping for a user who was not referred", async () => {
    const customer = newCustomerId();
    expect((await deliver(checkoutCompleted({ userId: "organic-user", customer, at: Date.now() }))).body.outcome).toBe(
      "not_referred",
    );
    expect((await deliver(invoicePaid({ customer, at: Date.now() }))).body.outcome).toBe("not_referred");
    expect(await countRows("SELECT count(*) AS n FROM stripe_payments WHERE user_id = 'organic-user'")).toBe(0);
    expect(await countRows("SELECT count(*) AS n FROM stripe_deferred_events WHERE customer_id = ?", customer)).toBe(0);
  });

  it("converts on the first paid invoice: referral, counters, reward and revenue", async () => {
    const r = await referral("convert");
    expect(
      (await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }))).body.outcome,
    ).toBe("applied");
    expect((await referralRow(r.refereeId))?.status).toBe("signed_up");

    const invoice = invoicePaid({ customer: r.customer, at: r.base + 60_000 });
    expect((await deliver(invoice)).body.outcome).toBe("applied");

    expect(await referralRow(r.refereeId)).toMatchObject({
      status: "converted",
      converted_at: r.base + 60_000,
      conversion_payment_id: invoice.data.object.id,
    });
    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "active", amount: 1000 });
    const stats = (await (await api(`/api/codes/${r.code}`)).json()) as { stats: { conversions: number } };
    expect(stats.stats.conversions).toBe(1);
    expect(
      await countRows(
        "SELECT gross AS n FROM revenue_daily WHERE day = ? AND currency = 'usd'",
        new Date(r.base).toISOString().slice(0, 10),
      ),
    ).toBeGreaterThanOrEqual(2900);
    expect(
      ((await (await api(`/api/users/${r.referrerId}/entitlements`)).json()) as { creditCents: number }).creditCents,
    ).toBe(1000);

    // A renewal adds revenue and grants nothing more.
    await deliver(invoicePaid({ customer: r.customer, at: r.base + 31 * DAY, billingReason: "subscription_cycle" }));
    expect(
      await countRows(`SELECT count(*) AS n FROM rewards WHERE user_id = ? AND "trigger" = 'conversion'`, r.referrerId),
    ).toBe(1);
    expect(await countRows("SELECT sum(amount) AS n FROM stripe_payments WHERE user_id = ?", r.refereeId)).toBe(5800);
    expect(await countRows("SELECT conversions AS n FROM referral_codes WHERE code = ?", r.code)).toBe(1);
  });

  it("converts on a one-off payment checkout, and not on a zero-amount one", async () => {
    const r = await referral("oneoff");
    await deliver(
      checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base, mode: "payment", amount: 0 }),
    );
    expect((await referralRow(r.refereeId))?.status).toBe("signed_up");
    const other = await referral("oneoff2");
    await deliver(
      checkoutCompleted({
        userId: null,
        metadataUserId: other.refereeId,
        customer: other.customer,
        at: other.base,
        mode: "payment",
        amount: 4900,
      }),
    );
    expect((await referralRow(other.refereeId))?.status).toBe("converted");
  });

  it("keeps an invoice that arrives before its checkout and applies it when the checkout comes", async () => {
    const r = await referral("early");
    const invoice = invoicePaid({ customer: r.customer, at: r.base + 60_000 });
    expect((await deliver(invoice)).body.outcome).toBe("deferred");
    expect(await countRows("SELECT count(*) AS n FROM stripe_deferred_events WHERE customer_id = ?", r.customer)).toBe(
      1,
    );

    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    expect(await referralRow(r.refereeId)).toMatchObject({
      status: "converted",
      conversion_payment_id: invoice.data.object.id,
    });
    expect(await countRows("SELECT count(*) AS n FROM stripe_deferred_events WHERE customer_id = ?", r.customer)).toBe(
      0,
    );
    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "active" });
  });

  it("takes the conversion reward back on a full refund within the clawback window", async () => {
    const r = await referral("clawback");
    const chargeId = newChargeId();
    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    await deliver(invoicePaid({ customer: r.customer, at: r.base + 60_000 }));

    await deliver(
      chargeRefunded({
        customer: r.customer,
        chargeId,
        chargedAt: r.base + 61_000,
        at: r.base + 5 * DAY,
        amountRefunded: 1000,
      }),
    );
    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "active" });
    expect((await referralRow(r.refereeId))?.clawed_back_at).toBeNull();

    await deliver(
      chargeRefunded({
        customer: r.customer,
        chargeId,
        chargedAt: r.base + 61_000,
        at: r.base + 6 * DAY,
        amountRefunded: 2900,
      }),
    );
    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "revoked" });
    expect((await referralRow(r.refereeId))?.clawed_back_at).toBe(r.base + 6 * DAY);
    expect(await countRows("SELECT amount_refunded AS n FROM stripe_charges WHERE id = ?", chargeId)).toBe(2900);
  });

  it("keeps the reward when the refund comes after the clawback window, but still reduces revenue", async () => {
    const r = await referral("late-refund");
    const chargeId = newChargeId();
    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    await deliver(invoicePaid({ customer: r.customer, at: r.base + 60_000 }));
    await deliver(
      chargeRefunded({
        customer: r.customer,
        chargeId,
        chargedAt: r.base + 61_000,
        at: r.base + 31 * DAY,
        amountRefunded: 2900,
      }),
    );

    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "active" });
    expect(await countRows("SELECT amount_refunded AS n FROM stripe_charges WHERE id = ?", chargeId)).toBe(2900);
  });

  it("records a debt when the refunded reward was already redeemed", async () => {
    const r = await referral("debt");
    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    await deliver(invoicePaid({ customer: r.customer, at: r.base + 60_000 }));
    const reward = await conversionReward(r.referrerId);
    expect((await api(`/api/rewards/${reward?.id}/redeem`, { method: "POST" })).status).toBe(200);

    await deliver(
      chargeRefunded({
        customer: r.customer,
        chargeId: newChargeId(),
        chargedAt: r.base + 61_000,
        at: r.base + DAY,
        amountRefunded: 2900,
      }),
    );

    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "redeemed" });
    const debt = await env.DB.prepare(
      `SELECT amount, status, type FROM rewards WHERE user_id = ? AND "trigger" = 'clawback'`,
    )
      .bind(r.referrerId)
      .first();
    expect(debt).toEqual({ amount: -1000, status: "active", type: "account_credit" });
    expect(
      ((await (await api(`/api/users/${r.referrerId}/entitlements`)).json()) as { creditCents: number }).creditCents,
    ).toBe(-1000);
  });

  it("holds the reward during a dispute and releases it when the dispute is won", async () => {
    const r = await referral("won");
    const chargeId = newChargeId();
    const disputeId = newDisputeId();
    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    await deliver(invoicePaid({ customer: r.customer, at: r.base + 60_000 }));
    // The charge becomes known through a small refund; the dispute names only the charge.
    await refundSmallPart(r, chargeId, r.base + DAY);

    expect(
      (
        await deliver(
          disputeEvent("charge.dispute.created", {
            disputeId,
            chargeId,
            status: "needs_response",
            at: r.base + 2 * DAY,
          }),
        )
      ).body.outcome,
    ).toBe("applied");
    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "pending" });
    await deliver(disputeEvent("charge.dispute.closed", { disputeId, chargeId, status: "won", at: r.base + 20 * DAY }));
    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "active" });
  });

  it("revokes the reward when the dispute is lost", async () => {
    const r = await referral("lost");
    const chargeId = newChargeId();
    const disputeId = newDisputeId();
    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    await deliver(invoicePaid({ customer: r.customer, at: r.base + 60_000 }));
    await refundSmallPart(r, chargeId, r.base + DAY);
    await deliver(
      disputeEvent("charge.dispute.closed", { disputeId, chargeId, status: "lost", at: r.base + 50 * DAY }),
    );

    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "revoked" });
    expect((await referralRow(r.refereeId))?.clawed_back_at).toBe(r.base + 50 * DAY);
  });

  it("keeps a dispute on an unknown charge and applies it once the charge shows up", async () => {
    const r = await referral("orphan");
    const chargeId = newChargeId();
    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    await deliver(invoicePaid({ customer: r.customer, at: r.base + 60_000 }));
    const dispute = disputeEvent("charge.dispute.created", {
      disputeId: newDisputeId(),
      chargeId,
      status: "needs_response",
      at: r.base + 2 * DAY,
    });
    expect((await deliver(dispute)).body.outcome).toBe("unresolved");
    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "active" });

    await refundSmallPart(r, chargeId, r.base + 3 * DAY);
    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "pending" });
  });

  it("records the end of the referee's subscription", async () => {
    const r = await referral("churn");
    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    await deliver(subscriptionDeleted({ customer: r.customer, at: r.base + 90 * DAY }));
    expect((await referralRow(r.refereeId))?.canceled_at).toBe(r.base + 90 * DAY);
  });

  it("answers a replay with 200 and changes nothing", async () => {
    const r = await referral("replay");
    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    const invoice = invoicePaid({ customer: r.customer, at: r.base + 60_000 });
    await deliver(invoice);
    const rewardsBefore = await countRows("SELECT count(*) AS n FROM rewards");
    const revenueBefore = await countRows("SELECT sum(gross) AS n FROM revenue_daily");

    expect(await deliver(invoice)).toEqual({ status: 200, body: { received: true, outcome: "duplicate" } });
    expect(await countRows("SELECT count(*) AS n FROM rewards")).toBe(rewardsBefore);
    expect(await countRows("SELECT sum(gross) AS n FROM revenue_daily")).toBe(revenueBefore);
    expect(await countRows("SELECT conversions AS n FROM referral_codes WHERE code = ?", r.code)).toBe(1);
  });

  it("applies an event once when Stripe delivers it several times at once", async () => {
    const r = await referral("burst");
    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    const invoice = invoicePaid({ customer: r.customer, at: r.base + 60_000 });
    const results = await Promise.all(Array.from({ length: 6 }, () => deliver(invoice)));
    expect(results.every((res) => res.status === 200)).toBe(true);
    expect(results.filter((res) => res.body.outcome === "applied")).toHaveLength(1);
    expect(await countRows("SELECT count(*) AS n FROM stripe_payments WHERE user_id = ?", r.refereeId)).toBe(1);
    expect(await countRows("SELECT conversions AS n FROM referral_codes WHERE code = ?", r.code)).toBe(1);
  });

  it("ends right when different events for one customer race", async () => {
    const r = await referral("race");
    const chargeId = newChargeId();
    await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.base }));
    await Promise.all([
      deliver(invoicePaid({ customer: r.customer, at: r.base + 60_000 })),
      deliver(
        chargeRefunded({
          customer: r.customer,
          chargeId,
          chargedAt: r.base + 61_000,
          at: r.base + DAY,
          amountRefunded: 2900,
        }),
      ),
      deliver(invoicePaid({ customer: r.customer, at: r.base + 31 * DAY })),
    ]);
    expect(await conversionReward(r.referrerId)).toMatchObject({ status: "revoked" });
    expect(await countRows("SELECT count(*) AS n FROM stripe_payments WHERE user_id = ?", r.refereeId)).toBe(2);
  });
});

describe("the whole story, in any order", () => {
  it("refund story, delivered in order, ends with the conversion clawed back and the revenue net of refunds", async () => {
    const story = await refundStory();
    const state = await play(
      story,
      story.events.map((_, i) => i),
    );
    expect(state.referral).toEqual({
      status: "converted",
      convertedAt: 60_000,
      conversionPayment: "first-invoice",
      clawedBackAt: 10 * DAY,
      canceledAt: null,
    });
    expect(state.rewards).toEqual([
      expect.objectContaining({
        to_referrer: 1,
        rule: "referrer-conversion-credit",
        amount: 1000,
        status: "revoked",
        trigger_id: "first-invoice",
      }),
    ]);
    expect(state.counters).toEqual([{ signups: 1, conversions: 1 }]);
    const totals = state.revenue.reduce(
      (sum: { gross: number; refunded: number }, row) => ({
        gross: sum.gross + Number(row.gross),
        refunded: sum.refunded + Number(row.refunded),
      }),
      { gross: 0, refunded: 0 },
    );
    expect(totals).toEqual({ gross: 5800, refunded: 3400 });
    expect(state.deferred).toEqual([{ n: 0 }]);
  });

  it("dispute story, delivered in order, ends with the reward revoked by the lost dispute", async () => {
    const story = await disputeStory();
    const state = await play(
      story,
      story.events.map((_, i) => i),
    );
    expect(state.referral.clawedBackAt).toBe(40 * DAY);
    expect(state.rewards).toEqual([expect.objectContaining({ status: "revoked", trigger_id: "invoice" })]);
    expect(state.unownedDisputes).toEqual([{ n: 0 }]);
  });

  for (const build of [refundStory, disputeStory]) {
    it(`${build.name}: every event twice, in any order, ends in the in-order state`, async () => {
      await expectAnyOrderEndsInOrder(build);
    });
  }
});
