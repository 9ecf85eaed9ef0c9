import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  disputeEvent,
  invoicePaid,
  newChargeId,
  newDisputeId,
  newPaymentIntentId,
} from "./fixtures";
import { expectAnyOrderEndsInOrder, laterRefundStory, play, referredCustomer } from "./story";

/**
 * The ledger is a function of the set of Stripe facts, never of the order
 * they came in: a refund or a lost dispute of a later payment, delivered
 * before the earlier payment that is the real conversion, revokes the
 * conversion reward only until that payment arrives, which reinstates it.
 */

const HOUR = 3_600_000;
async function referred() {
  return { ...(await referredCustomer("order")), now: Date.now() };
}

const state = async (r: { referrerId: string; refereeId: string }) => ({
  referral: await env.DB.prepare(
    "SELECT status, conversion_payment_id, clawed_back_at FROM referrals WHERE referee_id = ?",
  )
    .bind(r.refereeId)
    .first(),
  credit: await env.DB.prepare(
    `SELECT status, trigger_id, revoked_by FROM rewards WHERE user_id = ? AND "trigger" = 'conversion'`,
  )
    .bind(r.referrerId)
    .first(),
  // What the host heard about the conversion credit.
  events: (
    await env.DB.prepare(
      `SELECT type FROM outbox_events WHERE json_extract(payload, '$.rewardId') =
         (SELECT id FROM rewards WHERE user_id = ? AND "trigger" = 'conversion') ORDER BY sequence`,
    )
      .bind(r.referrerId)
      .all<{ type: string }>()
  ).results.map((row) => row.type),
});

async function entitlements(userId: string) {
  const res = await api(`/api/users/${userId}/entitlements`);
  return ((await res.json()) as { creditCents: number }).creditCents;
}

describe("a refund or lost dispute of a later payment, delivered before the first payment", () => {
  for (const ending of ["refund", "lost dispute"] as const) {
    it(`leaves the conversion credit active after a ${ending} (reinstating what it revoked)`, async () => {
      const r = await referred();
      const [in1, in2] = [`in_1_${r.customer}`, `in_2_${r.customer}`];
      const [pi1, pi2] = [newPaymentIntentId(), newPaymentIntentId()];
      const ch2 = newChargeId();
      const dispute = newDisputeId();
      const takeBack =
        ending === "refund"
          ? [
              chargeRefunded({
                customer: r.customer,
                chargeId: ch2,
                chargedAt: r.now - HOUR,
                at: r.now - HOUR / 2,
                amountRefunded: 2900,
                paymentIntent: pi2,
              }),
            ]
          : [
              disputeEvent("charge.dispute.created", {
                disputeId: dispute,
                chargeId: ch2,
                paymentIntent: pi2,
                status: "needs_response",
                at: r.now - HOUR / 2,
              }),
              disputeEvent("charge.dispute.closed", {
                disputeId: dispute,
                chargeId: ch2,
                paymentIntent: pi2,
                status: "lost",
                at: r.now - HOUR / 4,
              }),
            ];
      await deliver(checkoutCompleted({ userId: r.refereeId, customer: r.customer, at: r.now - 3 * HOUR }));
      await deliver(invoicePaid({ customer: r.customer, at: r.now - HOUR, id: in2, paymentIntent: pi2 }));
      for (const event of takeBack) expect((await deliver(event)).status).toBe(200);
      expect((await state(r)).credit).toMatchObject({ status: "revoked", trigger_id: in2, revoked_by: "stripe" });
      expect(await entitlements(r.referrerId)).toBe(0);

      expect(
        await deliver(invoicePaid({ customer: r.customer, at: r.now - 2 * HOUR, id: in1, paymentIntent: pi1 })),
      ).toMatchObject({
        status: 200,
        body: { outcome: "applied" },
      });
      const end = await state(r);
      expect(end.referral).toEqual({ status: "converted", conversion_payment_id: in1, clawed_back_at: null });
      expect(end.credit).toEqual({ status: "active", trigger_id: in1, revoked_by: null });
      expect(end.events).toEqual(["reward.granted", "reward.revoked", "reward.reinstated"]);
      expect(await entitlements(r.referrerId)).toBe(1000);
    });
  }

  it("counts no revocation in /api/stats once it was reinstated", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const res = await api(`/api/stats?from=${today}&to=${today}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { rewards: { revoked: number; granted: number } };
    expect(body.rewards.revoked).toBe(0);
    expect(body.rewards.granted).toBeGreaterThan(0);
  });
});

describe("the later-refund story, in any order", () => {
  it("ends, delivered in order, with the conversion on the first payment and its reward active", async () => {
    const story = await laterRefundStory();
    const end = await play(
      story,
      story.events.map((_, i) => i),
    );
    expect(end.referral).toMatchObject({ status: "converted", conversionPayment: "first-invoice", clawedBackAt: null });
    expect(end.rewards).toEqual([
      expect.objectContaining({ status: "active", trigger_id: "first-invoice", amount: 1000, revoked_by: null }),
    ]);
  });

  it("ends in the in-order state whatever the order, every event twice", async () => {
    await expectAnyOrderEndsInOrder(laterRefundStory);
  }, 240_000);

  it("reinstates in the order the issue was found in: second payment, its refund, then the first payment", async () => {
    const reference = await laterRefundStory();
    const expected = await play(
      reference,
      reference.events.map((_, i) => i),
    );
    const story = await laterRefundStory();
    expect(await play(story, [0, 2, 4, 6, 5, 1, 3])).toEqual(expected);
  });
});
