import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { createDb } from "../../src/db/client";
import { runScheduled } from "../../src/scheduled";
import { attribute } from "../../src/services/attributions";
import { ADMIN_KEY, login, page } from "../admin/console";
import { testBindings } from "../bindings";
import { API_KEY, call, countRows } from "../helpers";
import {
  chargeSucceeded,
  checkoutCompleted,
  deliver,
  invoicePaid,
  newChargeId,
  newCustomerId,
  type StripeEventShape,
} from "./fixtures";

const DAY = 86_400_000;

/** Signup rewards on both sides; conversion credit held 14 days; 5 messages for each of the first 3 invoices. */
const RULES = {
  signup: {
    referrer: [{ id: "sr-signup-messages", type: "extra_messages", amount: 10, validFor: { months: 1 } }],
    referee: [{ id: "sr-welcome-requests", type: "extra_requests", amount: 2, validFor: null }],
  },
  conversion: {
    referrer: [
      { id: "sr-credit", type: "account_credit", amount: 1000, currency: "usd", validFor: null, holdDays: 14 },
      { id: "sr-monthly", type: "extra_messages", amount: 5, recurring: { invoices: 3 }, validFor: null },
    ],
    referee: [],
  },
  milestones: [],
};
const bindings = { ...env, REWARD_RULES: JSON.stringify(RULES) } as Env;
const config = parseConfig({ ...testBindings, REWARD_RULES: JSON.stringify(RULES) });

async function send(event: StripeEventShape) {
  const res = await deliver(event, { bindings });
  expect(res.status).toBe(200);
  return res.body.outcome;
}

async function api(path: string, body?: unknown) {
  const res = await call(
    path,
    {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
    bindings,
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

let n = 0;
/**
 * A referrer with a code (and `email`, if given) and their referee, signed up
 * a day before `paidAt`; the referee pays at `paidAt` with `refereeCard`, the
 * referrer (their own subscription) at `referrerPaidAt` with `referrerCard`.
 */
async function story(
  name: string,
  o: { paidAt: number; referrerPaidAt: number; refereeCard: string | null; referrerCard: string | null },
  codeEmail?: string,
) {
  const referrerId = `${name}-referrer-${++n}`;
  const refereeId = `${name}-referee-${n}`;
  const created = await api("/api/codes", { userId: referrerId, name: name.slice(0, 4), email: codeEmail });
  expect(created.status).toBe(201);
  const code = created.body.code as string;
  await attribute({ db: createDb(env.DB), config }, { refereeId, code }, o.paidAt - DAY);
  const refereeCustomer = newCustomerId();
  const referrerCustomer = newCustomerId();
  const refereeCharge = newChargeId();
  const referrerCharge = newChargeId();
  return {
    referrerId,
    refereeId,
    refereeCustomer,
    referee: {
      checkout: checkoutCompleted({ userId: refereeId, customer: refereeCustomer, at: o.paidAt - 60_000 }),
      // The same invoice each time: another delivery of it is a replay.
      invoice: (email?: string) =>
        invoicePaid({ customer: refereeCustomer, at: o.paidAt, email, id: `in_${refereeCustomer}` }),
      charge: chargeSucceeded({
        customer: refereeCustomer,
        chargeId: refereeCharge,
        at: o.paidAt + 1_000,
        fingerprint: o.refereeCard,
      }),
    },
    referrer: {
      checkout: checkoutCompleted({ userId: referrerId, customer: referrerCustomer, at: o.referrerPaidAt - 60_000 }),
      invoice: invoicePaid({ customer: referrerCustomer, at: o.referrerPaidAt }),
      charge: chargeSucceeded({
        customer: referrerCustomer,
        chargeId: referrerCharge,
        at: o.referrerPaidAt + 1_000,
        fingerprint: o.referrerCard,
      }),
    },
  };
}

interface Entry {
  rule: string;
  user: "referrer" | "referee";
  amount: number;
  status: string;
  trigger: string;
  revoked_by: string | null;
}

/** The referral's ledger, both sides, in a stable order. */
async function ledger(s: { referrerId: string; refereeId: string }): Promise<Entry[]> {
  const { results } = await env.DB.prepare(
    `SELECT rule, CASE WHEN user_id = ?1 THEN 'referrer' ELSE 'referee' END AS user, amount, status, "trigger", revoked_by
     FROM rewards WHERE user_id IN (?1, ?2) ORDER BY rule, trigger_id, amount`,
  )
    .bind(s.referrerId, s.refereeId)
    .all<Entry>();
  return results;
}

const referralOf = (refereeId: string) =>
  env.DB.prepare("SELECT id, fraud_reason, fraud_at, clawed_back_at, converted_at FROM referrals WHERE referee_id = ?")
    .bind(refereeId)
    .first<{
      id: string;
      fraud_reason: string | null;
      fraud_at: number | null;
      clawed_back_at: number | null;
      converted_at: number | null;
    }>();

const revokedEvents = (userIds: string[]) =>
  countRows(
    `SELECT count(*) AS n FROM outbox_events WHERE type = 'reward.revoked'
     AND json_extract(payload, '$.userId') IN (?, ?)`,
    ...userIds,
  );

const TAKEN_BACK: Omit<Entry, "trigger">[] = [
  { rule: "sr-credit", user: "referrer", amount: 1000, status: "revoked", revoked_by: "stripe" },
  { rule: "sr-monthly", user: "referrer", amount: 5, status: "revoked", revoked_by: "stripe" },
  { rule: "sr-signup-messages", user: "referrer", amount: 10, status: "revoked", revoked_by: "stripe" },
  { rule: "sr-welcome-requests", user: "referee", amount: 2, status: "revoked", revoked_by: "stripe" },
];
const withoutTrigger = (entries: Entry[]) => entries.map(({ trigger: _trigger, ...rest }) => rest);

describe("a self-referral found at payment time", () => {
  it("revokes the referral's held and unspent rewards, with no negative entry, when the referee pays with the referrer's card", async () => {
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - DAY;
    const s = await story("card", {
      paidAt,
      referrerPaidAt: paidAt - 30 * DAY,
      refereeCard: "fp_shared_card_1",
      referrerCard: "fp_shared_card_1",
    });
    for (const event of [s.referrer.checkout, s.referrer.invoice]) expect(await send(event)).toBe("not_referred");
    expect(await send(s.referrer.charge)).toBe("not_referred");
    expect(await send(s.referee.checkout)).toBe("applied");
    expect(await send(s.referee.invoice())).toBe("applied");
    // Until the card is known the referral is in good standing: the credit waits out its hold.
    expect((await ledger(s)).find((e) => e.rule === "sr-credit")).toMatchObject({ status: "pending" });

    expect(await send(s.referee.charge)).toBe("applied");
    const referral = await referralOf(s.refereeId);
    expect(referral).toMatchObject({
      fraud_reason: "self_referral_payment",
      fraud_at: paidAt + 1_000,
      clawed_back_at: paidAt + 1_000,
    });
    expect(withoutTrigger(await ledger(s))).toEqual(TAKEN_BACK);
    expect(
      await countRows(
        "SELECT count(*) AS n FROM rewards WHERE user_id IN (?, ?) AND amount < 0",
        s.referrerId,
        s.refereeId,
      ),
    ).toBe(0);
    expect(await revokedEvents([s.referrerId, s.refereeId])).toBe(4);
    // Listed in the console's fraud review, once.
    expect(
      await env.DB.prepare("SELECT id, reason, referee_id FROM blocked_attributions WHERE referee_id = ?")
        .bind(s.refereeId)
        .all(),
    ).toMatchObject({
      results: [{ id: `payment:${referral?.id}`, reason: "self_referral_payment", referee_id: s.refereeId }],
    });
    const operatorBindings = bindings as typeof env;
    const session = await login(ADMIN_KEY, operatorBindings);
    const review = await page(session, "/admin/fraud?reason=self_referral_payment", {}, operatorBindings);
    expect(review.status).toBe(200);
    expect(await review.text()).toContain(`<code>${s.refereeId}</code>`);
    const timeline = await page(session, `/admin/referrals/${referral?.id}`, {}, operatorBindings);
    expect(timeline.status).toBe(200);
    expect(await timeline.text()).toContain("Found to be a self-referral (self_referral_payment)");
    const entitlements = await api(`/api/users/${s.referrerId}/entitlements`);
    expect(entitlements.body).toMatchObject({ extraMessages: 0, creditCents: 0 });

    // Replays change nothing, and tell nothing twice.
    for (const event of [s.referee.charge, s.referee.invoice(), s.referrer.charge]) await send(event);
    expect(withoutTrigger(await ledger(s))).toEqual(TAKEN_BACK);
    expect(await revokedEvents([s.referrerId, s.refereeId])).toBe(4);
    expect(await countRows("SELECT count(*) AS n FROM blocked_attributions WHERE referee_id = ?", s.refereeId)).toBe(1);
  });

  it("finds it when the referrer's own payment arrives after the referee's, ending the same way", async () => {
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - DAY;
    const s = await story("late", {
      paidAt,
      referrerPaidAt: paidAt + 3_600_000,
      refereeCard: "fp_shared_card_2",
      referrerCard: "fp_shared_card_2",
    });
    for (const event of [s.referee.checkout, s.referee.invoice(), s.referee.charge])
      expect(await send(event)).toBe("applied");
    expect((await referralOf(s.refereeId))?.fraud_reason).toBeNull();
    expect((await ledger(s)).filter((e) => e.status === "revoked")).toEqual([]);

    expect(await send(s.referrer.checkout)).toBe("not_referred");
    expect(await send(s.referrer.invoice)).toBe("not_referred");
    // The referrer's card is the referee's: their referral is found out from the referrer's side.
    expect(await send(s.referrer.charge)).toBe("applied");
    expect(await referralOf(s.refereeId)).toMatchObject({
      fraud_reason: "self_referral_payment",
      fraud_at: paidAt + 3_600_000 + 1_000,
    });
    expect(withoutTrigger(await ledger(s))).toEqual(TAKEN_BACK);
    expect(await revokedEvents([s.referrerId, s.refereeId])).toBe(4);
  });

  it("ends in the same ledger whatever order Stripe delivers the four events in, a charge before its checkout included", async () => {
    const orders = [
      ["referrerCharge", "refereeCheckout", "refereeInvoice", "refereeCharge"],
      ["refereeCharge", "refereeInvoice", "referrerCharge", "refereeCheckout"],
      ["refereeInvoice", "refereeCheckout", "refereeCharge", "referrerCharge"],
    ] as const;
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - DAY;
    const endings: unknown[] = [];
    for (const [i, order] of orders.entries()) {
      const card = `fp_order_card_${i}`;
      const s = await story(`order${i}`, {
        paidAt,
        referrerPaidAt: paidAt - DAY,
        refereeCard: card,
        referrerCard: card,
      });
      await send(s.referrer.checkout);
      const events = {
        referrerCharge: s.referrer.charge,
        refereeCheckout: s.referee.checkout,
        refereeInvoice: s.referee.invoice(),
        refereeCharge: s.referee.charge,
      };
      for (const name of order) {
        await send(events[name]);
        // Who paid is kept only as keyed hashes, a charge waiting for its checkout included.
        const raw = await countRows(
          `SELECT (SELECT count(*) FROM payment_identities WHERE instr(hash, ?1) > 0)
                + (SELECT count(*) FROM stripe_deferred_events WHERE instr(payload, ?1) > 0) AS n`,
          card,
        );
        expect(raw).toBe(0);
        if (name === "refereeCharge" && order[0] === name) {
          // Waiting for its checkout, the charge kept its card as a hash, to be compared once it is released.
          const waiting = await countRows(
            `SELECT count(*) AS n FROM stripe_deferred_events
             WHERE customer_id = ? AND json_extract(payload, '$.identities[0].kind') = 'card'`,
            s.refereeCustomer,
          );
          expect(waiting).toBe(1);
        }
      }
      const referral = await referralOf(s.refereeId);
      endings.push({
        ledger: withoutTrigger(await ledger(s)),
        fraudAt: referral?.fraud_at,
        reason: referral?.fraud_reason,
      });
    }
    expect(endings[0]).toEqual({ ledger: TAKEN_BACK, fraudAt: paidAt + 1_000, reason: "self_referral_payment" });
    expect(endings[1]).toEqual(endings[0]);
    expect(endings[2]).toEqual(endings[0]);
  });

  it("finds the referrer's code email as the referee's billing email, however it is written", async () => {
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - DAY;
    const s = await story(
      "email",
      { paidAt, referrerPaidAt: paidAt, refereeCard: "fp_email_a", referrerCard: "fp_email_b" },
      "alex.owner@gmail.com",
    );
    await send(s.referee.checkout);
    expect(await send(s.referee.invoice("Alex.Owner+second@googlemail.com"))).toBe("applied");
    expect((await referralOf(s.refereeId))?.fraud_reason).toBe("self_referral_payment");
    expect((await ledger(s)).filter((e) => e.status !== "revoked")).toEqual([]);
  });

  it("leaves a referee who pays with another card, or with one Stripe gives no fingerprint for, alone", async () => {
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - DAY;
    for (const [name, refereeCard, referrerCard] of [
      ["other", "fp_referee_own", "fp_referrer_own"],
      ["none", null, null],
    ] as const) {
      const s = await story(name, { paidAt, referrerPaidAt: paidAt - DAY, refereeCard, referrerCard });
      for (const event of [
        s.referrer.checkout,
        s.referrer.charge,
        s.referee.checkout,
        s.referee.invoice(),
        s.referee.charge,
      ]) {
        await send(event);
      }
      expect(await referralOf(s.refereeId)).toMatchObject({ fraud_reason: null, fraud_at: null, clawed_back_at: null });
      expect((await ledger(s)).map((e) => [e.rule, e.status])).toEqual([
        ["sr-credit", "pending"],
        ["sr-monthly", "active"],
        ["sr-signup-messages", "active"],
        ["sr-welcome-requests", "active"],
      ]);
      expect(await countRows("SELECT count(*) AS n FROM blocked_attributions WHERE referee_id = ?", s.refereeId)).toBe(
        0,
      );
    }
    // Cards Stripe named are kept as hashes for both; a card with no fingerprint leaves nothing.
    expect(
      await countRows("SELECT count(*) AS n FROM payment_identities WHERE kind = 'card' AND user_id LIKE 'other-%'"),
    ).toBe(2);
    expect(await countRows("SELECT count(*) AS n FROM payment_identities WHERE user_id LIKE 'none-%'")).toBe(0);
  });
});

describe("a self-referral found after the hold", () => {
  it("claws back what was spent with a debt and revokes the rest, as a refund would", async () => {
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - 20 * DAY;
    const s = await story("after", {
      paidAt,
      referrerPaidAt: Math.floor(Date.now() / 1000) * 1000 - 5_000,
      refereeCard: "fp_after_card",
      referrerCard: "fp_after_card",
    });
    for (const event of [s.referee.checkout, s.referee.invoice(), s.referee.charge]) await send(event);
    await runScheduled(bindings, Date.now());
    const credit = await env.DB.prepare("SELECT id, status FROM rewards WHERE user_id = ? AND rule = 'sr-credit'")
      .bind(s.referrerId)
      .first<{ id: string; status: string }>();
    expect(credit?.status).toBe("active");
    expect((await api(`/api/rewards/${credit?.id}/redeem`, {})).status).toBe(200);

    // 20 days after the referee's payment, inside CLAWBACK_DAYS (30): the referrer pays with the same card.
    await send(s.referrer.checkout);
    expect(await send(s.referrer.charge)).toBe("applied");
    expect(await ledger(s)).toEqual([
      { rule: "sr-credit", user: "referrer", amount: -1000, status: "active", trigger: "clawback", revoked_by: null },
      {
        rule: "sr-credit",
        user: "referrer",
        amount: 1000,
        status: "redeemed",
        trigger: "conversion",
        revoked_by: null,
      },
      {
        rule: "sr-monthly",
        user: "referrer",
        amount: 5,
        status: "revoked",
        trigger: "conversion",
        revoked_by: "stripe",
      },
      {
        rule: "sr-signup-messages",
        user: "referrer",
        amount: 10,
        status: "revoked",
        trigger: "signup",
        revoked_by: "stripe",
      },
      {
        rule: "sr-welcome-requests",
        user: "referee",
        amount: 2,
        status: "revoked",
        trigger: "signup",
        revoked_by: "stripe",
      },
    ]);
    expect((await api(`/api/users/${s.referrerId}/entitlements`)).body).toMatchObject({ creditCents: -1000 });
  });

  it("past CLAWBACK_DAYS marks the referral for review but takes nothing back, as a refund would", async () => {
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - 40 * DAY;
    const s = await story("too-late", {
      paidAt,
      referrerPaidAt: Math.floor(Date.now() / 1000) * 1000 - 5_000,
      refereeCard: "fp_too_late",
      referrerCard: "fp_too_late",
    });
    for (const event of [s.referee.checkout, s.referee.invoice(), s.referee.charge]) await send(event);
    await runScheduled(bindings, Date.now());
    await send(s.referrer.checkout);
    await send(s.referrer.charge);
    expect(await referralOf(s.refereeId)).toMatchObject({
      fraud_reason: "self_referral_payment",
      clawed_back_at: null,
    });
    expect((await ledger(s)).filter((e) => e.status === "revoked" || e.amount < 0)).toEqual([]);
    expect(await countRows("SELECT count(*) AS n FROM blocked_attributions WHERE referee_id = ?", s.refereeId)).toBe(1);
  });
});
