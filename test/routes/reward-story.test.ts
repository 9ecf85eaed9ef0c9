import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { runScheduled } from "../../src/scheduled";
import { API_KEY, call, createCode } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  invoicePaid,
  newChargeId,
  newCustomerId,
} from "../stripe/fixtures";

const DAY = 86_400_000;

/**
 * A program with every mechanic: conversion credit held 14 days, 10% of each
 * of the first three invoices, and a month of Pro at two qualified conversions.
 */
const RULES = {
  qualifiedBy: "conversion",
  signup: { referrer: [], referee: [] },
  conversion: {
    referrer: [
      { id: "story-credit", type: "account_credit", amount: 1000, currency: "usd", validFor: null, holdDays: 14 },
      { id: "story-monthly", type: "account_credit", percent: 10, recurring: { invoices: 3 }, validFor: null },
    ],
    referee: [],
  },
  milestones: [
    {
      id: "two-conversions",
      signups: 2,
      grants: [
        { id: "two-conversions-pro", type: "feature_unlock", amount: 1, feature: "pro", validFor: { months: 1 } },
      ],
    },
  ],
};
const bindings = { ...env, REWARD_RULES: JSON.stringify(RULES) } as Env;
const NOW = Math.floor(Date.now() / 1000) * 1000;
const ago = (days: number) => NOW - days * DAY;

async function send(event: Parameters<typeof deliver>[0]) {
  const res = await deliver(event, { bindings });
  expect(res.status).toBe(200);
}

/** A referee of `referrerId` with their own Stripe customer. */
async function referee(code: string, name: string) {
  const res = await call(
    "/api/attributions",
    {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ refereeId: name, code }),
    },
    bindings,
  );
  expect(res.status).toBe(201);
  const customer = newCustomerId();
  await send(checkoutCompleted({ userId: name, customer, at: ago(90) }));
  return {
    invoice: `in_${name}`,
    pay: (daysAgo: number, suffix = "") => send(invoicePaid({ customer, at: ago(daysAgo), id: `in_${name}${suffix}` })),
    refund: (paidDaysAgo: number, refundedDaysAgo: number) =>
      send(
        chargeRefunded({
          customer,
          chargeId: newChargeId(),
          chargedAt: ago(paidDaysAgo) + 1_000,
          at: ago(refundedDaysAgo),
          amountRefunded: 2900,
        }),
      ),
  };
}

async function ledger(userId: string) {
  const { results } = await env.DB.prepare(
    `SELECT rule, r.trigger_id AS triggerId, amount, status, revoked_by AS revokedBy, dedupe_key AS dedupeKey
     FROM rewards r WHERE user_id = ? ORDER BY rule, dedupe_key`,
  )
    .bind(userId)
    .all<{
      rule: string;
      triggerId: string;
      amount: number;
      status: string;
      revokedBy: string | null;
      dedupeKey: string;
    }>();
  return results;
}

async function entitlements(userId: string) {
  const res = await call(
    `/api/users/${userId}/entitlements`,
    { headers: { authorization: `Bearer ${API_KEY}` } },
    bindings,
  );
  expect(res.status).toBe(200);
  return (await res.json()) as { creditCents: number; features: { feature: string; until: string | null }[] };
}

describe("a referrer's story through holds, refunds, recurring rewards and a milestone", () => {
  it("ends with exactly the rewards that are real", async () => {
    const referrerId = "story-referrer";
    const code = await createCode(referrerId, "story");

    // Ann subscribes 70 days ago; her second month is refunded; her third is paid.
    const ann = await referee(code, "story-ann");
    await ann.pay(70);
    await ann.pay(40, "-2");
    await ann.refund(40, 38);
    await ann.pay(10, "-3");

    // Ben pays 5 days ago and is refunded two days later, inside the hold: his credit never becomes usable.
    const ben = await referee(code, "story-ben");
    await ben.pay(5);
    expect(
      (await ledger(referrerId)).find((r) => r.rule === "story-credit" && r.triggerId === "in_story-ben"),
    ).toMatchObject({
      status: "pending",
    });
    await ben.refund(5, 3);

    // Cat pays 20 days ago: two qualified conversions (Ann, Cat), the milestone is crossed.
    const cat = await referee(code, "story-cat");
    await cat.pay(20);
    let milestone = (await ledger(referrerId)).filter((r) => r.rule === "two-conversions-pro");
    expect(milestone.map((r) => [r.dedupeKey, r.status])).toEqual([
      [`milestone:${referrerId}:two-conversions-pro:1`, "active"],
    ]);

    // Cat is refunded: back to one qualified conversion, the milestone is lost.
    await cat.refund(20, 17);
    milestone = (await ledger(referrerId)).filter((r) => r.rule === "two-conversions-pro");
    expect(milestone.map((r) => [r.dedupeKey, r.status, r.revokedBy])).toEqual([
      [`milestone:${referrerId}:two-conversions-pro:1`, "revoked", "milestone"],
    ]);

    // Dan pays 16 days ago (past his hold): crossed again, a second entry for the second crossing.
    const dan = await referee(code, "story-dan");
    await dan.pay(16);
    // A replayed invoice and the cron change nothing: never twice for one crossing.
    await dan.pay(16);
    await runScheduled(bindings, NOW);
    await runScheduled(bindings, NOW);

    const byRule = (rule: string) =>
      ledger(referrerId).then((rows) =>
        rows.filter((r) => r.rule === rule).map((r) => [r.triggerId, r.amount, r.status]),
      );
    expect(await byRule("two-conversions-pro")).toEqual([
      [expect.any(String), 1, "revoked"],
      [expect.any(String), 1, "active"],
    ]);
    expect((await ledger(referrerId)).filter((r) => r.rule === "two-conversions-pro").map((r) => r.dedupeKey)).toEqual([
      `milestone:${referrerId}:two-conversions-pro:1`,
      `milestone:${referrerId}:two-conversions-pro:2`,
    ]);
    // The conversion credit: Ann's and Dan's past their hold (the cron made them active), Ben's and Cat's revoked outright.
    expect(await byRule("story-credit")).toEqual(
      expect.arrayContaining([
        ["in_story-ann", 1000, "active"],
        ["in_story-ben", 1000, "revoked"],
        ["in_story-cat", 1000, "revoked"],
        ["in_story-dan", 1000, "active"],
      ]),
    );
    // One entry per invoice; the refunded month is the only one of Ann's taken back.
    expect(await byRule("story-monthly")).toEqual(
      expect.arrayContaining([
        ["in_story-ann", 290, "active"],
        ["in_story-ann-2", 290, "revoked"],
        ["in_story-ann-3", 290, "active"],
        ["in_story-ben", 290, "revoked"],
        ["in_story-cat", 290, "revoked"],
        ["in_story-dan", 290, "active"],
      ]),
    );
    expect((await ledger(referrerId)).length).toBe(12);
    // Nothing was spent, so nothing needed a negative entry.
    expect((await ledger(referrerId)).filter((r) => r.amount < 0)).toEqual([]);

    const now = await entitlements(referrerId);
    expect(now.creditCents).toBe(1000 + 290 + 290 + 1000 + 290);
    expect(now.features.map((f) => f.feature)).toEqual(["pro"]);
  });

  it("counts a conversion towards a milestone only once its hold has ended, when the cron sees it", async () => {
    const referrerId = "story-late-referrer";
    const code = await createCode(referrerId, "late");
    const eve = await referee(code, "story-eve");
    await eve.pay(30);
    const fay = await referee(code, "story-fay");
    await fay.pay(3);
    const milestone = async () =>
      (await ledger(referrerId)).filter((r) => r.rule === "two-conversions-pro").map((r) => r.status);
    expect(await milestone()).toEqual([]);

    await runScheduled(bindings, NOW + 10 * DAY);
    expect(await milestone()).toEqual([]);
    const first = await runScheduled(bindings, NOW + 12 * DAY);
    expect(first.qualifiedMilestones).toBe(1);
    expect(await milestone()).toEqual(["active"]);
    const again = await runScheduled(bindings, NOW + 12 * DAY + 15 * 60_000);
    expect(again.qualifiedMilestones).toBe(0);
    expect(await milestone()).toEqual(["active"]);
  });
});
