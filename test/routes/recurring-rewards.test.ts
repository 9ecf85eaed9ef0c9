import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { API_KEY, call, createCode } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  invoicePaid,
  newChargeId,
  newCustomerId,
  type StripeEventShape,
} from "../stripe/fixtures";

const DAY = 86_400_000;

/** 10% of each of the referee's first 3 paid invoices, at most 7.00 per referral; and 5 messages per invoice for 2 months. */
const RULES = {
  signup: { referrer: [], referee: [] },
  milestones: [],
  conversion: {
    referrer: [
      {
        id: "recurring-credit",
        type: "account_credit",
        percent: 10,
        recurring: { invoices: 3 },
        capPerReferral: 700,
        validFor: null,
      },
      { id: "recurring-messages", type: "extra_messages", amount: 5, recurring: { months: 2 }, validFor: null },
    ],
    referee: [],
  },
};
const bindings = { ...env, REWARD_RULES: JSON.stringify(RULES) } as Env;

async function send(event: StripeEventShape, using = bindings) {
  const res = await deliver(event, { bindings: using });
  expect(res.status).toBe(200);
  return res.body;
}

let n = 0;
/** A referee on a monthly subscription: invoice i is paid i months (30 days) after `base`, each with its own charge. */
async function subscriber(name: string, using = bindings) {
  const referrerId = `${name}-referrer-${++n}`;
  const refereeId = `${name}-referee-${n}`;
  const code = await createCode(referrerId, name.slice(0, 4));
  const res = await call(
    "/api/attributions",
    {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ refereeId, code }),
    },
    using,
  );
  expect(res.status).toBe(201);
  const customer = newCustomerId();
  // A fixed start, so "two calendar months" covers the same invoices on any day the suite runs.
  const base = Date.UTC(2026, 0, 5, 9);
  const invoices = [0, 1, 2, 3].map((i) => ({
    id: `in_${i}_${customer}`,
    charge: newChargeId(),
    at: base + i * 30 * DAY,
  }));
  const inv = (i: number) => {
    const invoice = invoices[i];
    if (!invoice) throw new Error(`no invoice ${i}`);
    return invoice;
  };
  const paid = (i: number, amount = 2900) =>
    invoicePaid({
      customer,
      at: inv(i).at,
      id: inv(i).id,
      amount,
      billingReason: i === 0 ? "subscription_create" : "subscription_cycle",
    });
  const refund = (i: number) =>
    chargeRefunded({
      customer,
      chargeId: inv(i).charge,
      chargedAt: inv(i).at + 1_000,
      at: inv(i).at + 2 * DAY,
      amountRefunded: 2900,
    });
  return {
    referrerId,
    refereeId,
    customer,
    base,
    invoices,
    id: (i: number) => inv(i).id,
    paid,
    refund,
    checkout: checkoutCompleted({ userId: refereeId, customer, at: base - 60_000 }),
  };
}

async function ledger(referrerId: string) {
  const { results } = await env.DB.prepare(
    `SELECT rule, trigger_id, amount, currency, status, "trigger" FROM rewards
     WHERE user_id = ? AND rule LIKE 'recurring-%' ORDER BY rule, trigger_id, amount`,
  )
    .bind(referrerId)
    .all<{
      rule: string;
      trigger_id: string;
      amount: number;
      currency: string | null;
      status: string;
      trigger: string;
    }>();
  return results;
}

describe("recurring conversion rewards", () => {
  it("grants one entry per paid invoice: a percent rounded down, within the cap, for the first N invoices only", async () => {
    const s = await subscriber("recur");
    await send(s.checkout);
    for (const i of [0, 1, 2, 3]) await send(s.paid(i));

    const credit = (await ledger(s.referrerId)).filter((r) => r.rule === "recurring-credit");
    expect(credit).toEqual([
      {
        rule: "recurring-credit",
        trigger_id: s.id(0),
        amount: 290,
        currency: "usd",
        status: "active",
        trigger: "conversion",
      },
      {
        rule: "recurring-credit",
        trigger_id: s.id(1),
        amount: 290,
        currency: "usd",
        status: "active",
        trigger: "conversion",
      },
      // The cap leaves 120 of the third invoice's 290; the fourth is beyond the first three.
      {
        rule: "recurring-credit",
        trigger_id: s.id(2),
        amount: 120,
        currency: "usd",
        status: "active",
        trigger: "conversion",
      },
    ]);
    // Two calendar months from 5 January: the invoices of day 0 and day 30; day 60 is 6 March.
    const messages = (await ledger(s.referrerId)).filter((r) => r.rule === "recurring-messages");
    expect(messages.map((m) => m.trigger_id).sort()).toEqual([s.id(0), s.id(1)].sort());
    const res = await call(
      `/api/users/${s.referrerId}/entitlements`,
      { headers: { authorization: `Bearer ${API_KEY}` } },
      bindings,
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ creditCents: 700, extraMessages: 10 });
  });

  it("rounds a percent down in minor units and skips an invoice of nothing", async () => {
    const s = await subscriber("round");
    await send(s.checkout);
    await send(s.paid(0, 999));
    await send(s.paid(1, 0));
    const credit = (await ledger(s.referrerId)).filter((r) => r.rule === "recurring-credit");
    expect(credit.map((r) => r.amount)).toEqual([99]);
  });

  it("takes back only the refunded month's entry", async () => {
    const s = await subscriber("refund");
    await send(s.checkout);
    for (const i of [0, 1, 2]) await send(s.paid(i));
    await send(s.refund(1));

    const credit = (await ledger(s.referrerId)).filter((r) => r.rule === "recurring-credit");
    expect(credit.map((r) => [r.trigger_id, r.amount, r.status])).toEqual([
      [s.id(0), 290, "active"],
      [s.id(1), 290, "revoked"],
      [s.id(2), 120, "active"],
    ]);
    const messages = (await ledger(s.referrerId)).filter((r) => r.rule === "recurring-messages");
    expect(messages.map((r) => [r.trigger_id, r.status])).toEqual([
      [s.id(0), "active"],
      [s.id(1), "revoked"],
    ]);
  });

  it("grants nothing twice for replayed invoices, and ends the same whatever order they arrive in", async () => {
    const inOrder = await subscriber("order-a");
    await send(inOrder.checkout);
    for (const i of [0, 1, 2, 3]) await send(inOrder.paid(i));
    await send(inOrder.refund(1));

    const shuffled = await subscriber("order-b");
    await send(shuffled.paid(3));
    await send(shuffled.refund(1));
    await send(shuffled.paid(2));
    await send(shuffled.checkout);
    await send(shuffled.paid(1));
    await send(shuffled.paid(2));
    await send(shuffled.paid(0));
    await send(shuffled.paid(3));
    await send(shuffled.refund(1));

    const relabel = (s: typeof inOrder) => (rows: Awaited<ReturnType<typeof ledger>>) =>
      rows.map((r) => ({ ...r, trigger_id: s.invoices.findIndex((inv) => inv.id === r.trigger_id) }));
    const inForce = (rows: ReturnType<ReturnType<typeof relabel>>) => rows.filter((r) => r.status !== "revoked");
    const expected = relabel(inOrder)(await ledger(inOrder.referrerId));
    const got = relabel(shuffled)(await ledger(shuffled.referrerId));
    expect(inForce(got)).toEqual(inForce(expected));
    // Never twice for one invoice and rule, however often it was delivered.
    const keys = got.map((r) => `${r.rule}:${r.trigger_id}`);
    expect(new Set(keys).size).toBe(keys.length);
    // Renewals granted while the first invoice had not arrived yet are revoked once it shows they are out of bounds.
    for (const extra of got.filter((r) => !expected.some((e) => e.rule === r.rule && e.trigger_id === r.trigger_id))) {
      expect(extra.status).toBe("revoked");
    }
    expect(inForce(expected).filter((r) => r.rule === "recurring-credit")).toHaveLength(2);
  });

  it("takes back a spent entry with a debt when its invoice is refunded", async () => {
    const s = await subscriber("spent");
    await send(s.checkout);
    await send(s.paid(0));
    const row = await env.DB.prepare("SELECT id FROM rewards WHERE user_id = ? AND rule = 'recurring-credit'")
      .bind(s.referrerId)
      .first<{ id: string }>();
    const redeemed = await call(
      `/api/rewards/${row?.id}/redeem`,
      { method: "POST", headers: { authorization: `Bearer ${API_KEY}` } },
      bindings,
    );
    expect(redeemed.status).toBe(200);
    await send(s.refund(0));
    const credit = (await ledger(s.referrerId)).filter((r) => r.rule === "recurring-credit");
    expect(credit.map((r) => [r.amount, r.status, r.trigger])).toEqual([
      [-290, "active", "clawback"],
      [290, "redeemed", "conversion"],
    ]);
  });
});

describe("a multiplier on a percent of each invoice", () => {
  /** One and a half times the credit for invoices paid in January 2026 (the subscriber's first is on 5 January). */
  const multiplied = {
    ...env,
    REWARD_RULES: JSON.stringify({
      ...RULES,
      multipliers: [
        {
          id: "january-contest",
          from: "2026-01-01T00:00:00Z",
          until: "2026-02-01T00:00:00Z",
          factor: 1.5,
          triggers: ["conversion"],
        },
      ],
    }),
  } as Env;

  it("scales the percent, rounds down once, and keeps the referral within capPerReferral", async () => {
    const s = await subscriber("boost", multiplied);
    await send(s.checkout, multiplied);
    for (const i of [0, 1, 2]) await send(s.paid(i, 2999), multiplied);

    const credit = (await ledger(s.referrerId)).filter((r) => r.rule === "recurring-credit");
    // 10% of 29.99 is 2.999, times 1.5 is 4.4985: 449 cents (rounding 299.9 down first would give 448).
    // February's invoice is outside the window: 299, of which the 700 cap leaves 251. Nothing is left for March's.
    expect(credit.map((r) => [r.trigger_id, r.amount, r.status])).toEqual([
      [s.id(0), 449, "active"],
      [s.id(1), 251, "active"],
    ]);
    const res = await call(
      `/api/users/${s.referrerId}/entitlements`,
      { headers: { authorization: `Bearer ${API_KEY}` } },
      multiplied,
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ creditCents: 700 });
  });
});
