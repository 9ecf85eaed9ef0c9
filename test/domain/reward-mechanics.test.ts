import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RewardStatus } from "../../src/db/schema";
import { asChosen, type BundleEntry, bundleGrants, bundleOfEntry, takeBackBundle } from "../../src/domain/bundles";
import {
  type ChargeFact,
  conversionRewardActions,
  conversionState,
  type DisputeFact,
  mergeCharge,
  mergeDispute,
  type PaymentFact,
  type RewardAction,
} from "../../src/domain/conversion";
import { computeEntitlements, statusAt } from "../../src/domain/ledger";
import { type RecurringEntry, recurringRewardActions } from "../../src/domain/recurring";
import {
  grantAmount,
  type MilestoneEntry,
  parseRules,
  planConversionGrants,
  planQualifiedMilestones,
  planRecurringGrants,
  planSignupGrants,
} from "../../src/domain/rules";

const DAY = 86_400_000;
const at = Date.UTC(2026, 10, 24, 12);
const referral = { referralId: "ref-1", referrerId: "alice", refereeId: "bob" };

describe("rule validation", () => {
  const credit = { id: "c", type: "account_credit", currency: "usd", validFor: null };
  const conversion = (rule: Record<string, unknown>) => ({ conversion: { referrer: [rule], referee: [] } });

  it("takes a percent, a recurrence and a cap on a conversion rule", () => {
    expect(() =>
      parseRules(conversion({ ...credit, percent: 20, recurring: { invoices: 12 }, capPerReferral: 5000 })),
    ).not.toThrow();
  });

  it.each([
    ["both amount and percent", conversion({ ...credit, amount: 100, percent: 10 }), "either amount or percent"],
    ["neither amount nor percent", conversion({ ...credit }), "either amount or percent"],
    ["invoices and months", conversion({ ...credit, amount: 1, recurring: { invoices: 2, months: 2 } }), "not both"],
    [
      "a recurrence on a signup rule",
      { signup: { referrer: [{ ...credit, amount: 1, recurring: { invoices: 2 } }], referee: [] } },
      "only apply to conversion rules",
    ],
    ["a negative hold", conversion({ ...credit, amount: 1, holdDays: -1 }), "holdDays"],
  ])("refuses %s", (_name, override, message) => {
    expect(() => parseRules(override)).toThrow(message);
  });
});

describe("holding periods", () => {
  const rules = parseRules({
    signup: {
      referrer: [{ id: "held", type: "extra_messages", amount: 10, validFor: { months: 1 }, holdDays: 14 }],
      referee: [{ id: "now", type: "extra_requests", amount: 2, validFor: { days: 7 } }],
    },
    milestones: [],
  });

  it("plans a held grant available after its hold, its validity starting then", () => {
    const [welcome, held] = planSignupGrants(rules, { ...referral, at });
    expect(welcome).toMatchObject({ rule: "now", availableAt: null, validFrom: at, validUntil: at + 7 * DAY });
    expect(held).toMatchObject({
      rule: "held",
      availableAt: at + 14 * DAY,
      validFrom: at + 14 * DAY,
      validUntil: Date.UTC(2027, 0, 8, 12),
    });
  });

  it("counts a pending entry from its availableAt, and never one waiting for a choice", () => {
    const entry = {
      type: "extra_messages",
      amount: 10,
      feature: null,
      status: "pending" as const,
      validFrom: at,
      validUntil: null,
      availableAt: at,
    };
    expect(statusAt(entry, at - 1)).toBe("pending");
    expect(statusAt(entry, at)).toBe("active");
    expect(statusAt({ ...entry, availableAt: null }, at + DAY)).toBe("pending");
    expect(statusAt({ ...entry, choices: '["a","b"]', choice: null }, at + DAY)).toBe("pending");
    expect(computeEntitlements(rules, [entry], at - 1).extraMessages).toBe(0);
    expect(computeEntitlements(rules, [entry], at).extraMessages).toBe(10);
  });
});

describe("percent and recurring amounts", () => {
  it.each([
    [10, 2900, 290],
    [10, 999, 99],
    [12.5, 2901, 362],
    [33.33, 100, 33],
    [100, 1, 1],
    [0.01, 99, 0],
  ])("takes %s percent of %s minor units as %s, rounded down", (percent, amount, expected) => {
    expect(grantAmount({ id: "x", type: "account_credit", percent, validFor: null }, { amount })).toBe(expected);
  });

  it.each([
    [10, 2999, 1.5, 449],
    [10, 2900, 2, 580],
    [12.5, 2901, 3, 1087],
    [33.33, 100, 1.1, 36],
    [0.01, 99, 100, 0],
    [20, 1_000_000_000_000, 2.5, 500_000_000_000],
  ])("takes %s percent of %s times %s as %s, rounded down once", (percent, amount, factor, expected) => {
    expect(grantAmount({ id: "x", type: "account_credit", percent, validFor: null }, { amount }, factor)).toBe(
      expected,
    );
  });

  it("applies a conversion multiplier to a percent rule, rounding down, and caps it per referral", () => {
    const boosted = parseRules({
      conversion: {
        referrer: [
          { id: "pct-once", type: "account_credit", percent: 10, capPerReferral: 400, validFor: null },
          { id: "pct-small", type: "account_credit", percent: 5, validFor: null },
        ],
        referee: [],
      },
      multipliers: [
        { id: "x2", from: "2026-11-01T00:00:00Z", until: "2026-12-01T00:00:00Z", factor: 2, triggers: ["conversion"] },
      ],
    });
    const payment = { ...referral, triggerId: "in_1", amount: 2999, currency: "eur" };
    const inWindow = planConversionGrants(boosted, { ...payment, at });
    // 10% of 2999 doubled is 599.8: 599, capped at 400; 5% doubled is 299.9: 299.
    expect(inWindow.map((g) => [g.rule, g.amount, g.currency])).toEqual([
      ["pct-once", 400, "eur"],
      ["pct-small", 299, "eur"],
    ]);
    const after = planConversionGrants(boosted, { ...payment, at: Date.UTC(2026, 11, 1) });
    expect(after.map((g) => [g.rule, g.amount])).toEqual([
      ["pct-once", 299],
      ["pct-small", 149],
    ]);
  });

  const rules = parseRules({
    conversion: {
      referrer: [
        {
          id: "pct",
          type: "account_credit",
          percent: 10,
          recurring: { invoices: 3 },
          capPerReferral: 700,
          validFor: null,
        },
        { id: "months", type: "extra_messages", amount: 5, recurring: { months: 2 }, validFor: null },
        { id: "once", type: "account_credit", amount: 1000, currency: "usd", validFor: null },
      ],
      referee: [],
    },
  });
  const pay = (i: number, amount = 2900, day = i * 30): PaymentFact => ({
    id: `in_${i}`,
    customerId: "cus_1",
    paymentIntent: null,
    currency: "eur",
    amount,
    paidAt: Date.UTC(2026, 0, 5) + day * DAY,
  });

  it("plans the first N invoices within the cap, in the invoice's currency, keyed by invoice", () => {
    const planned = planRecurringGrants(rules, referral, [pay(3), pay(1), pay(0), pay(2)]);
    expect(
      planned.filter((g) => g.rule === "pct").map((g) => [g.triggerId, g.amount, g.currency, g.dedupeKey]),
    ).toEqual([
      ["in_0", 290, "eur", "ref-1:pct:in_0"],
      ["in_1", 290, "eur", "ref-1:pct:in_1"],
      ["in_2", 120, "eur", "ref-1:pct:in_2"],
    ]);
    // Two calendar months from 5 January end on 5 March: the invoice of 6 March is out.
    expect(planned.filter((g) => g.rule === "months").map((g) => g.triggerId)).toEqual(["in_0", "in_1"]);
    // The one-off rule is the conversion's, not a recurrence.
    expect(planned.some((g) => g.rule === "once")).toBe(false);
    expect(planConversionGrants(rules, { ...referral, triggerId: "in_0", at }).map((g) => g.rule)).toEqual(["once"]);
  });

  it("skips invoices of nothing and lets an entry already spent keep its amount, sharing out only what is left", () => {
    const spent = new Map([["ref-1:pct:in_2", 290]]);
    const planned = planRecurringGrants(rules, referral, [pay(0), pay(1, 0), pay(2), pay(3)], spent);
    expect(planned.filter((g) => g.rule === "pct").map((g) => [g.triggerId, g.amount])).toEqual([
      ["in_0", 290],
      ["in_2", 290],
      ["in_3", 120],
    ]);
  });
});

/**
 * A model of the ledger: the actions the pure rules ask for, applied the way
 * the SQL statements apply them (a status move only from the status it names,
 * an insert only once per dedupe key).
 */
type Entry = RecurringEntry & { redeemable: boolean };

function apply(ledger: Map<string, Entry>, actions: readonly RewardAction[]) {
  for (const action of actions) {
    if (action.kind === "insert" || action.kind === "debt") {
      const grant = action.grant;
      if (ledger.has(grant.dedupeKey)) continue;
      const status: RewardStatus = action.kind === "insert" ? action.status : "active";
      ledger.set(grant.dedupeKey, {
        ...grant,
        id: grant.dedupeKey,
        status,
        revokedBy: status === "revoked" ? "stripe" : null,
        fulfilledAt: null,
        availableAt: status === "pending" ? grant.availableAt : null,
        redeemable: true,
      });
    } else {
      const entry = ledger.get(action.id);
      if (!entry) continue;
      if (action.kind === "retarget") {
        if (entry.status !== "redeemed")
          Object.assign(entry, { triggerId: action.grant.triggerId, amount: action.grant.amount });
      } else if (entry.status === action.from) {
        entry.revokedBy = action.to === "revoked" ? "stripe" : action.from === "revoked" ? null : entry.revokedBy;
        entry.status = action.to;
        if (action.to === "pending") entry.availableAt = action.availableAt ?? null;
      }
    }
  }
}

type Fact =
  | { kind: "pay"; i: number }
  | { kind: "refund"; i: number }
  | { kind: "dispute"; i: number; status: "needs_response" | "won" | "lost"; at: number };

const RULES = parseRules({
  conversion: {
    referrer: [
      { id: "once", type: "account_credit", amount: 1000, currency: "usd", validFor: null, holdDays: 14 },
      {
        id: "pct",
        type: "account_credit",
        percent: 10,
        recurring: { invoices: 3 },
        capPerReferral: 700,
        validFor: null,
      },
    ],
    referee: [],
  },
});
const BASE = Date.UTC(2026, 0, 5);
const paidAt = (i: number) => BASE + i * 30 * DAY;

/** Folds facts, in the order given, into the ledger, as the webhook does one event at a time. */
function play(facts: readonly Fact[], redeemAfter: ReadonlySet<number> = new Set()) {
  const payments = new Map<string, PaymentFact>();
  const charges = new Map<string, ChargeFact>();
  const disputes = new Map<string, DisputeFact>();
  const ledger = new Map<string, Entry>();
  const redeemedTotals: number[] = [];
  facts.forEach((fact, step) => {
    const i = fact.i;
    if (fact.kind === "pay") {
      payments.set(`in_${i}`, {
        id: `in_${i}`,
        customerId: "cus",
        paymentIntent: `pi_${i}`,
        currency: "usd",
        amount: 2900,
        paidAt: paidAt(i),
      });
    } else if (fact.kind === "refund") {
      const charge: ChargeFact = {
        id: `ch_${i}`,
        customerId: "cus",
        paymentIntent: `pi_${i}`,
        currency: "usd",
        amount: 2900,
        amountRefunded: 2900,
        fullyRefundedAt: paidAt(i) + 2 * DAY,
        createdAt: paidAt(i) + 1000,
      };
      charges.set(charge.id, mergeCharge(charges.get(charge.id), charge));
    } else {
      const dispute: DisputeFact = {
        id: `dp_${i}`,
        chargeId: `ch_${i}`,
        paymentIntent: `pi_${i}`,
        status: fact.status,
        statusAt: fact.at,
      };
      disputes.set(dispute.id, mergeDispute(disputes.get(dispute.id), dispute));
    }
    const all = { payments: [...payments.values()], charges: [...charges.values()], disputes: [...disputes.values()] };
    const state = conversionState(all.payments, all.charges, all.disputes, 30 * DAY);
    if (state.converting) {
      const planned = planConversionGrants(RULES, {
        ...referral,
        triggerId: state.converting.id,
        at: state.converting.paidAt,
        amount: state.converting.amount,
        currency: state.converting.currency,
      });
      apply(ledger, conversionRewardActions(planned, ledger, state));
      apply(
        ledger,
        recurringRewardActions(
          RULES,
          referral,
          all,
          [...ledger.values()].filter((e) => e.rule === "pct"),
          30 * DAY,
        ),
      );
    }
    if (redeemAfter.has(step)) {
      // The host redeems whatever is usable now.
      for (const entry of ledger.values()) {
        if (entry.amount > 0 && statusAt(entry, Number.POSITIVE_INFINITY) === "active") entry.status = "redeemed";
      }
    }
    redeemedTotals.push(sum(ledger, (e) => e.status === "redeemed"));
    expect(net(ledger)).toBeGreaterThanOrEqual(0);
  });
  return { ledger, redeemedTotals };
}

const sum = (ledger: Map<string, Entry>, keep: (entry: Entry) => boolean) =>
  [...ledger.values()].filter(keep).reduce((total, entry) => total + entry.amount, 0);
/** What the ledger gives in all: entries not revoked or expired, less the debts. */
const net = (ledger: Map<string, Entry>) =>
  sum(ledger, (e) => e.status === "active" || e.status === "pending" || e.status === "redeemed");

const view = (ledger: Map<string, Entry>) =>
  [...ledger.values()]
    .map((entry) => ({
      key: entry.dedupeKey,
      status: entry.status,
      amount: entry.amount,
      availableAt: entry.availableAt,
    }))
    .sort((a, b) => (a.key < b.key ? -1 : 1));

const factsArb = fc
  .record({
    pays: fc.subarray([0, 1, 2, 3], { minLength: 1 }),
    refunds: fc.subarray([0, 1, 2, 3]),
    dispute: fc.option(fc.record({ i: fc.integer({ min: 0, max: 3 }), end: fc.constantFrom("won", "lost", null) })),
  })
  .map(({ pays, refunds, dispute }) => {
    const facts: Fact[] = [
      ...pays.map((i) => ({ kind: "pay" as const, i })),
      ...refunds.map((i) => ({ kind: "refund" as const, i })),
    ];
    if (dispute) {
      facts.push({ kind: "dispute", i: dispute.i, status: "needs_response", at: paidAt(dispute.i) + 3 * DAY });
      if (dispute.end)
        facts.push({ kind: "dispute", i: dispute.i, status: dispute.end, at: paidAt(dispute.i) + 9 * DAY });
    }
    return facts;
  });

describe("the ledger is a function of the facts (property)", () => {
  it("ends in the same entries in force whatever order grants, refunds, disputes and releases arrive in, replays included", () => {
    fc.assert(
      fc.property(
        factsArb.chain((facts) =>
          fc.tuple(fc.constant(facts), fc.shuffledSubarray([...facts, ...facts], { minLength: facts.length * 2 })),
        ),
        ([facts, shuffled]) => {
          const inOrder = play([...facts].sort((a, b) => order(a) - order(b)));
          const any = play(shuffled);
          const inForce = (ledger: Map<string, Entry>) => view(ledger).filter((e) => e.status !== "revoked");
          expect(inForce(any.ledger)).toEqual(inForce(inOrder.ledger));
          // A recurring rule never has more entries in force than its invoices, nor more than its cap.
          const pct = inForce(any.ledger).filter((e) => e.key.includes(":pct:"));
          expect(pct.length).toBeLessThanOrEqual(3);
          expect(pct.reduce((total, e) => total + e.amount, 0)).toBeLessThanOrEqual(700);
        },
      ),
      { numRuns: 300, seed: 1515 },
    );
  });

  it("never lets what the ledger gives fall below what was redeemed, and never un-redeems", () => {
    fc.assert(
      fc.property(
        factsArb.chain((facts) =>
          fc.tuple(
            fc.shuffledSubarray(facts, { minLength: facts.length }),
            fc.uniqueArray(fc.integer({ min: 0, max: 8 }), { maxLength: 3 }),
          ),
        ),
        ([facts, redeemSteps]) => {
          const { ledger, redeemedTotals } = play(facts, new Set(redeemSteps));
          // Redeemed amounts only grow: a clawback adds a debt, it never rewrites the spent entry.
          for (let k = 1; k < redeemedTotals.length; k++) {
            expect(redeemedTotals[k]).toBeGreaterThanOrEqual(redeemedTotals[k - 1] ?? 0);
          }
          expect(net(ledger)).toBeGreaterThanOrEqual(0);
          const debts = [...ledger.values()].filter((e) => e.amount < 0);
          for (const debt of debts) {
            const spent = ledger.get(debt.dedupeKey.replace(/:clawback$/, ""));
            expect(spent?.status).toBe("redeemed");
            expect(debt.amount).toBe(-(spent?.amount ?? 0));
          }
        },
      ),
      { numRuns: 300, seed: 2024 },
    );
  });
});

/** The order Stripe sends them in when nothing goes wrong: payments by date, then refunds, then disputes. */
function order(fact: Fact): number {
  if (fact.kind === "pay") return fact.i;
  if (fact.kind === "refund") return 10 + fact.i;
  return 20 + (fact.status === "needs_response" ? 0 : 1);
}

/** The spec's "50 messages + 25 requests", as one option. */
const usage = {
  id: "usage",
  label: "50 messages + 25 requests",
  grants: [
    { type: "extra_messages", amount: 50, validFor: { months: 3 } },
    { type: "extra_requests", amount: 25, validFor: { months: 3 } },
  ],
};

describe("choices", () => {
  const options = [
    { id: "credit", type: "account_credit", amount: 1000, currency: "usd", validFor: null },
    { id: "messages", type: "extra_messages", amount: 50, validFor: { months: 3 } },
  ];
  const withChoice = (rule: Record<string, unknown>) => ({
    conversion: { referrer: [{ id: "pick", ...rule }], referee: [] },
  });

  it("describes the entry by its first option until one is taken, with the options and the time to choose", () => {
    const rules = parseRules(withChoice({ choices: options, chooseWithinDays: 7 }));
    const [grant] = planConversionGrants(rules, { ...referral, triggerId: "in_1", at });
    expect(grant).toMatchObject({
      rule: "pick",
      type: "account_credit",
      amount: 1000,
      availableAt: at,
      validUntil: null,
      chooseBy: at + 7 * DAY,
    });
    expect(JSON.parse(grant?.choices ?? "null")).toEqual([
      { id: "credit", type: "account_credit", amount: 1000, currency: "usd", feature: null, validUntil: null },
      {
        id: "messages",
        type: "extra_messages",
        amount: 50,
        currency: null,
        feature: null,
        validUntil: Date.UTC(2027, 1, 24, 12),
      },
    ]);
  });

  it.each([
    ["the same option twice", withChoice({ choices: [options[0], options[0]] }), "same choice twice"],
    [
      "a credit option without a currency",
      withChoice({ choices: [{ ...options[0], currency: undefined }, options[1]] }),
      "names no currency",
    ],
    [
      "chooseWithinDays without choices",
      withChoice({ type: "extra_messages", amount: 1, validFor: null, chooseWithinDays: 3 }),
      "needs choices",
    ],
    ["a single option", withChoice({ choices: [options[0]] }), "choices"],
    [
      "a bundle with fields beside its grants",
      withChoice({ choices: [options[0], { ...usage, type: "extra_messages" }] }),
      "choice usage is a bundle: type belong in each of its grants",
    ],
    [
      "a bundle of one reward",
      withChoice({ choices: [options[0], { ...usage, grants: usage.grants.slice(0, 1) }] }),
      "a bundle grants at least 2 rewards",
    ],
    [
      "a bundle grant of an unknown type",
      withChoice({
        choices: [options[0], { ...usage, grants: [usage.grants[0], { ...usage.grants[1], type: "extra_usage" }] }],
      }),
      "choice usage, grant 2, uses unknown reward type extra_usage",
    ],
    [
      "a bundled credit without a currency",
      withChoice({
        choices: [
          options[0],
          { ...usage, grants: [usage.grants[0], { type: "account_credit", amount: 500, validFor: null }] },
        ],
      }),
      "choice usage, grant 2, grants credit but names no currency",
    ],
    [
      "an option that is neither a reward nor a bundle",
      withChoice({ choices: [options[0], { id: "nothing", label: "Nothing" }] }),
      "choice nothing needs type, amount, validFor (null never ends), or grants for a bundle",
    ],
  ])("refuses %s", (_name, override, message) => {
    expect(() => parseRules(override)).toThrow(message);
  });
});

describe("bundled options", () => {
  const rules = parseRules({
    conversion: {
      referrer: [
        {
          id: "pick",
          choices: [
            {
              id: "credit",
              label: "$10 credit",
              type: "account_credit",
              amount: 1000,
              currency: "usd",
              validFor: null,
            },
            usage,
          ],
        },
      ],
      referee: [],
    },
    multipliers: [
      { id: "x2", from: "2026-11-01T00:00:00Z", until: "2026-12-01T00:00:00Z", factor: 2, triggers: ["conversion"] },
    ],
  });
  const [grant] = planConversionGrants(rules, { ...referral, triggerId: "in_1", at });
  if (!grant) throw new Error("no grant planned");
  const threeMonths = Date.UTC(2027, 1, 24, 12);

  it("stores every reward of a bundle with the offer, multiplied and dated like a single option", () => {
    expect(JSON.parse(grant.choices ?? "null")).toEqual([
      {
        id: "credit",
        label: "$10 credit",
        type: "account_credit",
        amount: 2000,
        currency: "usd",
        feature: null,
        validUntil: null,
      },
      {
        id: "usage",
        label: "50 messages + 25 requests",
        type: "extra_messages",
        amount: 100,
        currency: null,
        feature: null,
        validUntil: threeMonths,
        grants: [
          { type: "extra_messages", amount: 100, currency: null, feature: null, validUntil: threeMonths },
          { type: "extra_requests", amount: 50, currency: null, feature: null, validUntil: threeMonths },
        ],
      },
    ]);
  });

  it("plans nothing more before a choice, or for a single option", () => {
    const entry = { id: "e1", choices: grant.choices ?? null, choice: null };
    expect(bundleGrants(grant, entry)).toEqual([]);
    expect(bundleGrants(grant, { ...entry, choice: "credit" })).toEqual([]);
    expect(asChosen(grant, entry)).toBe(grant);
  });

  it("plans a chosen bundle's further rewards like its entry: same referral, trigger and hold, keyed by place", () => {
    const entry = { id: "e1", choices: grant.choices ?? null, choice: "usage" };
    expect(asChosen(grant, entry)).toMatchObject({ type: "extra_messages", amount: 100, validUntil: threeMonths });
    expect(bundleGrants(grant, entry)).toEqual([
      {
        ...grant,
        type: "extra_requests",
        amount: 50,
        currency: null,
        feature: null,
        validUntil: threeMonths,
        choices: null,
        chooseBy: null,
        dedupeKey: "ref-1:pick:bundle:1",
        bundleOf: "e1",
        condition: { kind: "always" },
      },
    ]);
  });

  it("takes a bundle back: revokes what is unspent, a debt once for what is spent, leaves the rest", () => {
    const part = (
      key: string,
      status: RewardStatus,
      extra: Partial<BundleEntry & { bundleOf: string | null }> = {},
    ) => ({
      id: key,
      dedupeKey: key,
      status,
      trigger: "conversion",
      fulfilledAt: null,
      bundleOf: "e1",
      ...extra,
    });
    const entries = [
      part("k:bundle:1", "active"),
      part("k:bundle:2", "pending"),
      part("k:bundle:3", "redeemed"),
      part("k:bundle:4", "active", { fulfilledAt: at }),
      part("k:bundle:5", "redeemed"),
      part("k:bundle:5:clawback", "active", { trigger: "clawback", bundleOf: null }),
      part("k:bundle:6", "expired"),
      part("k:bundle:7", "revoked"),
      part("other:bundle:1", "active", { bundleOf: "e2" }),
    ];
    const mine = bundleOfEntry(entries, "e1");
    expect(mine.map((e) => e.id)).not.toContain("other:bundle:1");
    expect(mine.map((e) => e.id)).toContain("k:bundle:5:clawback");
    expect(takeBackBundle(mine).map((a) => (a.kind === "debt" ? `debt ${a.entry.id}` : `revoke ${a.id}`))).toEqual([
      "revoke k:bundle:1",
      "revoke k:bundle:2",
      "debt k:bundle:3",
      "debt k:bundle:4",
    ]);
  });
});

describe("milestones on qualified conversions", () => {
  const rules = parseRules({
    qualifiedBy: "conversion",
    milestones: [
      {
        id: "five",
        signups: 5,
        grants: [{ id: "five-messages", type: "extra_messages", amount: 50, validFor: null }],
      },
    ],
  });
  const s = (qualified: number) => ({ referrerId: "alice", referralId: "ref-9", qualified, now: at });
  const entry = (
    crossing: number,
    status: MilestoneEntry["status"],
    extra: Partial<MilestoneEntry> = {},
  ): MilestoneEntry => ({
    id: `id-${crossing}`,
    dedupeKey: `milestone:alice:five-messages:${crossing}`,
    status,
    amount: 50,
    fulfilledAt: null,
    ...extra,
  });

  it("is not granted at signup: only the qualified count grants it", () => {
    expect(planSignupGrants(rules, { ...referral, at }).filter((g) => g.trigger === "milestone")).toEqual([]);
    expect(planQualifiedMilestones(rules, s(4), [])).toEqual([]);
  });

  it("fires at the Nth qualified referral, once per crossing, guarded by the count when its batch runs", () => {
    const [action] = planQualifiedMilestones(rules, s(5), []);
    expect(action).toMatchObject({
      kind: "grant",
      grant: {
        dedupeKey: "milestone:alice:five-messages:1",
        amount: 50,
        condition: { kind: "qualified", referrerId: "alice", count: 5, convertedBy: at },
      },
    });
    expect(planQualifiedMilestones(rules, s(6), [entry(1, "active")])).toEqual([]);
  });

  it("revokes the live entry when the count drops below N, or takes it back with a debt once spent", () => {
    expect(planQualifiedMilestones(rules, s(4), [entry(1, "active")])).toEqual([
      { kind: "revoke", id: "id-1", from: "active" },
    ]);
    expect(planQualifiedMilestones(rules, s(4), [entry(1, "redeemed")])).toEqual([
      { kind: "debt", entry: entry(1, "redeemed") },
    ]);
    // Already taken back: nothing more to do.
    expect(planQualifiedMilestones(rules, s(4), [entry(1, "revoked")])).toEqual([]);
  });

  it("never grants a crossing again because its entry expired, and marks an expired one lost with the count", () => {
    expect(planQualifiedMilestones(rules, s(5), [entry(1, "expired")])).toEqual([]);
    expect(planQualifiedMilestones(rules, s(7), [entry(1, "expired")])).toEqual([]);
    expect(planQualifiedMilestones(rules, s(4), [entry(1, "expired")])).toEqual([
      { kind: "revoke", id: "id-1", from: "expired" },
    ]);
    expect(planQualifiedMilestones(rules, s(4), [entry(1, "expired", { fulfilledAt: at })])).toEqual([
      { kind: "debt", entry: entry(1, "expired", { fulfilledAt: at }) },
    ]);
    const [again] = planQualifiedMilestones(rules, s(5), [entry(1, "revoked")]);
    expect(again).toMatchObject({ kind: "grant", grant: { dedupeKey: "milestone:alice:five-messages:2" } });
  });

  it("fires again as a new crossing when the count is reached again", () => {
    const lost = [
      entry(1, "redeemed"),
      { ...entry(1, "active"), id: "debt-1", dedupeKey: "milestone:alice:five-messages:1:clawback", amount: -50 },
    ];
    const [again] = planQualifiedMilestones(rules, s(5), lost);
    expect(again).toMatchObject({ kind: "grant", grant: { dedupeKey: "milestone:alice:five-messages:2" } });
    expect(planQualifiedMilestones(rules, s(5), [entry(1, "revoked"), entry(2, "active")])).toEqual([]);
  });
});
