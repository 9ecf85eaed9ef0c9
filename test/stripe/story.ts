import { env } from "cloudflare:workers";
import fc from "fast-check";
import { expect } from "vitest";
import { attribute, clickForToken, createCode } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  disputeEvent,
  invoicePaid,
  newChargeId,
  newCustomerId,
  newDisputeId,
  newPaymentIntentId,
  type StripeEventShape,
} from "./fixtures";

const DAY = 86_400_000;
let stories = 0;

export interface Story {
  name: string;
  base: number;
  code: string;
  referrerId: string;
  refereeId: string;
  /** Ids minted for this story, mapped to stable labels for comparing stories. */
  labels: Map<string, string>;
  events: StripeEventShape[];
}

/** A referrer, a click, an attributed referee: everything before the money. */
async function referred(name: string) {
  const n = ++stories;
  const referrerId = `${name}-referrer-${n}`;
  const refereeId = `${name}-referee-${n}`;
  const code = await createCode(referrerId, name.slice(0, 4));
  const token = await clickForToken(code, { ip: `100.64.${n % 250}.1` });
  await attribute({ refereeId, token });
  // Each story lives in its own (future) year, so its daily aggregates can be read apart from other tests.
  return { n, referrerId, refereeId, code, base: Date.UTC(2100 + n, 2, 10, 9) };
}

/**
 * Story "refund": checkout, first invoice (the conversion), a renewal a month
 * later, a full refund of the first charge inside the clawback window, and a
 * partial refund of the renewal.
 */
export async function refundStory(): Promise<Story> {
  const { referrerId, refereeId, code, base } = await referred("refund");
  const customer = newCustomerId();
  const [first, renewal] = [`in_first_${customer}`, `in_renewal_${customer}`];
  const [firstCharge, renewalCharge] = [newChargeId(), newChargeId()];
  return {
    name: "refund",
    base,
    code,
    referrerId,
    refereeId,
    labels: new Map([
      [customer, "customer"],
      [first, "first-invoice"],
      [renewal, "renewal-invoice"],
      [firstCharge, "first-charge"],
      [renewalCharge, "renewal-charge"],
    ]),
    events: [
      checkoutCompleted({ userId: refereeId, customer, at: base }),
      invoicePaid({ customer, at: base + 60_000, id: first }),
      invoicePaid({ customer, at: base + 31 * DAY, id: renewal, billingReason: "subscription_cycle" }),
      chargeRefunded({
        customer,
        chargeId: firstCharge,
        chargedAt: base + 61_000,
        at: base + 10 * DAY,
        amountRefunded: 2900,
      }),
      chargeRefunded({
        customer,
        chargeId: renewalCharge,
        chargedAt: base + 31 * DAY + 1_000,
        at: base + 33 * DAY,
        amountRefunded: 500,
      }),
    ],
  };
}

/**
 * Story "dispute": checkout, the converting invoice, a small partial refund
 * of its charge, then a dispute on that charge that opens and is lost.
 */
export async function disputeStory(): Promise<Story> {
  const { referrerId, refereeId, code, base } = await referred("dispute");
  const customer = newCustomerId();
  const invoice = `in_${customer}`;
  const charge = newChargeId();
  const dispute = newDisputeId();
  return {
    name: "dispute",
    base,
    code,
    referrerId,
    refereeId,
    labels: new Map([
      [customer, "customer"],
      [invoice, "invoice"],
      [charge, "charge"],
      [dispute, "dispute"],
    ]),
    events: [
      checkoutCompleted({ userId: refereeId, customer, at: base }),
      invoicePaid({ customer, at: base + 60_000, id: invoice }),
      chargeRefunded({ customer, chargeId: charge, chargedAt: base + 61_000, at: base + 2 * DAY, amountRefunded: 100 }),
      disputeEvent("charge.dispute.created", {
        disputeId: dispute,
        chargeId: charge,
        status: "needs_response",
        at: base + 5 * DAY,
      }),
      disputeEvent("charge.dispute.closed", {
        disputeId: dispute,
        chargeId: charge,
        status: "lost",
        at: base + 40 * DAY,
      }),
    ],
  };
}

/**
 * Story "later refund": two payments an hour apart, then a renewal a month
 * later. The second payment is refunded in full and the renewal's charge is
 * disputed and lost: neither touches the conversion, which stays on the
 * first payment whatever order the events come in (the first payment may
 * arrive after the refund of the second, and then the reward, first revoked,
 * is reinstated).
 */
export async function laterRefundStory(): Promise<Story> {
  const { referrerId, refereeId, code, base } = await referred("later");
  const customer = newCustomerId();
  const [in1, in2, in3] = [`in_1_${customer}`, `in_2_${customer}`, `in_3_${customer}`];
  const [pi1, pi2, pi3] = [newPaymentIntentId(), newPaymentIntentId(), newPaymentIntentId()];
  const [ch2, ch3] = [newChargeId(), newChargeId()];
  const dispute = newDisputeId();
  const HOUR = 3_600_000;
  return {
    name: "later-refund",
    base,
    code,
    referrerId,
    refereeId,
    labels: new Map([
      [customer, "customer"],
      [in1, "first-invoice"],
      [in2, "second-invoice"],
      [in3, "renewal-invoice"],
      [ch2, "second-charge"],
      [ch3, "renewal-charge"],
      [dispute, "dispute"],
    ]),
    events: [
      checkoutCompleted({ userId: refereeId, customer, at: base }),
      invoicePaid({ customer, at: base + HOUR, id: in1, paymentIntent: pi1 }),
      invoicePaid({ customer, at: base + 2 * HOUR, id: in2, paymentIntent: pi2 }),
      invoicePaid({ customer, at: base + 31 * DAY, id: in3, paymentIntent: pi3, billingReason: "subscription_cycle" }),
      chargeRefunded({
        customer,
        chargeId: ch2,
        chargedAt: base + 2 * HOUR + 1_000,
        at: base + 3 * HOUR,
        amountRefunded: 2900,
        paymentIntent: pi2,
      }),
      disputeEvent("charge.dispute.created", {
        disputeId: dispute,
        chargeId: ch3,
        paymentIntent: pi3,
        status: "needs_response",
        at: base + 33 * DAY,
      }),
      disputeEvent("charge.dispute.closed", {
        disputeId: dispute,
        chargeId: ch3,
        paymentIntent: pi3,
        status: "lost",
        at: base + 50 * DAY,
      }),
    ],
  };
}

/** A referrer with a code and a referee attributed to it by code, and the referee's Stripe customer id. */
export async function referredCustomer(name: string) {
  const n = ++stories;
  const referrerId = `${name}-referrer-${n}`;
  const refereeId = `${name}-referee-${n}`;
  const code = await createCode(referrerId, name.slice(0, 4).toUpperCase());
  const res = await attribute({ refereeId, code });
  if (res.status !== 201) throw new Error(`attribution answered ${res.status}: ${JSON.stringify(res.body)}`);
  return { referrerId, refereeId, code, customer: newCustomerId() };
}

/**
 * Plays a fresh copy of the story in `runs` orders, every event twice, and
 * expects each to end in the in-order state. The seed is fixed, so every run
 * of the suite tries the same orders.
 */
export async function expectAnyOrderEndsInOrder(build: () => Promise<Story>, runs = 15, seed = 1203) {
  const reference = await build();
  const expected = await play(
    reference,
    reference.events.map((_, i) => i),
  );
  const indexes = [...reference.events.keys(), ...reference.events.keys()];
  await fc.assert(
    fc.asyncProperty(
      fc.shuffledSubarray(indexes, { minLength: indexes.length, maxLength: indexes.length }),
      async (order) => {
        expect(await play(await build(), order)).toEqual(expected);
      },
    ),
    { numRuns: runs, seed },
  );
}

/** Delivers the story's events in `order` (indexes, repeats allowed) and returns the end state. */
export async function play(story: Story, order: number[]) {
  for (const index of order) {
    const event = story.events[index];
    if (!event) throw new Error(`no event ${index}`);
    const res = await deliver(event);
    if (res.status !== 200) throw new Error(`event ${event.type} answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return snapshot(story);
}

/**
 * Everything the story changed, with its ids replaced by labels and its times
 * made relative to its start: two runs of a story compare equal exactly when
 * they ended in the same state.
 */
export async function snapshot(story: Story) {
  const label = (value: unknown) => (typeof value === "string" ? (story.labels.get(value) ?? value) : value);
  const rel = (value: unknown) => (typeof value === "number" ? value - story.base : value);
  const year = new Date(story.base).getUTCFullYear();
  // Days as "day N of the story", so stories in different years compare.
  const relDay = <T extends Record<string, unknown>>(row: T) => ({
    ...row,
    day: Math.round(
      (Date.parse(String(row.day)) - Date.parse(new Date(story.base).toISOString().slice(0, 10))) / 86_400_000,
    ),
  });
  const all = async (query: string, ...params: unknown[]) =>
    (
      await env.DB.prepare(query)
        .bind(...params)
        .all<Record<string, unknown>>()
    ).results;

  const [referral] = await all(
    "SELECT id, status, converted_at, conversion_payment_id, clawed_back_at, canceled_at FROM referrals WHERE referee_id = ?",
    story.refereeId,
  );
  const rewards = await all(
    `SELECT user_id = ? AS to_referrer, rule, type, amount, currency, status, "trigger", trigger_id, valid_from, valid_until,
       revoked_by
     FROM rewards WHERE referral_id = ? AND "trigger" IN ('conversion', 'clawback') ORDER BY rule, "trigger", amount`,
    story.referrerId,
    referral?.id,
  );
  return {
    referral: {
      status: referral?.status,
      convertedAt: rel(referral?.converted_at),
      conversionPayment: label(referral?.conversion_payment_id),
      clawedBackAt: rel(referral?.clawed_back_at),
      canceledAt: rel(referral?.canceled_at),
    },
    rewards: rewards.map((r) => ({
      ...r,
      trigger_id: label(r.trigger_id),
      valid_from: rel(r.valid_from),
      valid_until: rel(r.valid_until),
    })),
    counters: await all("SELECT signups, conversions FROM referral_codes WHERE code = ?", story.code),
    conversionsByDay: (
      await all("SELECT day, conversions FROM code_daily WHERE code = ? AND conversions != 0 ORDER BY day", story.code)
    ).map(relDay),
    revenue: (
      await all(
        "SELECT day, currency, gross, refunded FROM revenue_daily WHERE day LIKE ? ORDER BY day, currency",
        `${year}-%`,
      )
    ).map(relDay),
    deferred: await all(
      "SELECT count(*) AS n FROM stripe_deferred_events WHERE customer_id IN (SELECT customer_id FROM stripe_customers WHERE user_id = ?)",
      story.refereeId,
    ),
    unownedDisputes: await all(
      "SELECT count(*) AS n FROM stripe_disputes WHERE user_id IS NULL AND charge_id IN (SELECT id FROM stripe_charges WHERE user_id = ?)",
      story.refereeId,
    ),
  };
}
