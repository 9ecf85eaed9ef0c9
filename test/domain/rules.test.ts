import { describe, expect, it } from "vitest";
import { computeEntitlements } from "../../src/domain/ledger";
import {
  addDuration,
  capWindow,
  DEFAULT_RULES,
  monthWindow,
  multiplierAt,
  parseRules,
  planConversionGrants,
  planSignupGrants,
} from "../../src/domain/rules";

const at = Date.UTC(2026, 10, 24, 12, 0, 0);
const signup = { referralId: "ref-1", referrerId: "alice", refereeId: "bob", at };

describe("durations", () => {
  it.each([
    ["a month from the 15th", Date.UTC(2026, 0, 15), { months: 1 }, Date.UTC(2026, 1, 15)],
    ["a month from Jan 31 (clamped to Feb 28)", Date.UTC(2026, 0, 31), { months: 1 }, Date.UTC(2026, 1, 28)],
    ["a month from Jan 31 in a leap year", Date.UTC(2028, 0, 31), { months: 1 }, Date.UTC(2028, 1, 29)],
    ["a month from Dec 15 (year rolls)", Date.UTC(2026, 11, 15), { months: 1 }, Date.UTC(2027, 0, 15)],
    ["three months from Nov 30", Date.UTC(2026, 10, 30), { months: 3 }, Date.UTC(2027, 1, 28)],
    ["seven days", Date.UTC(2026, 1, 25, 9), { days: 7 }, Date.UTC(2026, 2, 4, 9)],
    ["a month and a day", Date.UTC(2026, 3, 30), { months: 1, days: 1 }, Date.UTC(2026, 4, 31)],
  ])("adds %s", (_name, from, duration, expected) => {
    expect(addDuration(from, duration)).toBe(expected);
  });

  it.each([
    ["mid-month", Date.UTC(2026, 10, 24, 12), Date.UTC(2026, 10, 1), Date.UTC(2026, 11, 1)],
    ["the first instant of a month", Date.UTC(2026, 1, 1), Date.UTC(2026, 1, 1), Date.UTC(2026, 2, 1)],
    ["the last instant of a month", Date.UTC(2026, 1, 1) - 1, Date.UTC(2026, 0, 1), Date.UTC(2026, 1, 1)],
    ["December", Date.UTC(2026, 11, 31, 23, 59), Date.UTC(2026, 11, 1), Date.UTC(2027, 0, 1)],
  ])("finds the UTC calendar month of %s", (_name, when, start, end) => {
    expect(monthWindow(when)).toEqual({ start, end });
  });
});

describe("multipliers", () => {
  const rules = parseRules({
    multipliers: [
      { id: "double", from: "2026-12-01T00:00:00Z", until: "2026-12-08T00:00:00Z", factor: 2, triggers: ["signup"] },
      {
        id: "triple",
        from: "2026-12-05T00:00:00Z",
        until: "2026-12-06T00:00:00Z",
        factor: 3,
        triggers: ["signup", "conversion"],
      },
    ],
  });
  const start = Date.UTC(2026, 11, 1);
  const end = Date.UTC(2026, 11, 8);

  it("applies from the first instant of the window to just before its end", () => {
    expect(multiplierAt(rules, "signup", start - 1)).toBe(1);
    expect(multiplierAt(rules, "signup", start)).toBe(2);
    expect(multiplierAt(rules, "signup", end - 1)).toBe(2);
    expect(multiplierAt(rules, "signup", end)).toBe(1);
  });

  it("takes the largest of overlapping windows, and only for their triggers", () => {
    expect(multiplierAt(rules, "signup", Date.UTC(2026, 11, 5, 12))).toBe(3);
    expect(multiplierAt(rules, "conversion", Date.UTC(2026, 11, 5, 12))).toBe(3);
    expect(multiplierAt(rules, "conversion", Date.UTC(2026, 11, 2))).toBe(1);
    expect(multiplierAt(rules, "milestone", Date.UTC(2026, 11, 5, 12))).toBe(1);
  });

  it("scales amounts but not feature unlocks", () => {
    const grants = planSignupGrants(rules, { ...signup, at: start });
    const byRule = Object.fromEntries(grants.map((g) => [g.rule, g]));
    expect(byRule["referrer-signup-messages"]?.amount).toBe(20);
    expect(byRule["referee-welcome-requests"]?.amount).toBe(4);
    expect(byRule["referee-pro-trial"]?.amount).toBe(1);
    expect(
      planSignupGrants(rules, { ...signup, at: end }).find((g) => g.rule === "referrer-signup-messages")?.amount,
    ).toBe(10);
  });
});

describe("signup grants", () => {
  const grants = planSignupGrants(DEFAULT_RULES, signup);

  it("gives the referrer +10 messages and +5 requests for a month, within the cap", () => {
    const referrer = grants.filter((g) => g.role === "referrer" && g.trigger === "signup");
    expect(referrer.map((g) => [g.type, g.amount, g.validUntil])).toEqual([
      ["extra_messages", 10, Date.UTC(2026, 11, 24, 12)],
      ["extra_requests", 5, Date.UTC(2026, 11, 24, 12)],
    ]);
    expect(referrer.every((g) => g.userId === "alice" && g.condition.kind === "referrer_rewarded")).toBe(true);
  });

  it("gives the referee +5 messages, +2 requests and 7 days of pro, unconditionally", () => {
    const referee = grants.filter((g) => g.role === "referee");
    expect(referee.map((g) => [g.type, g.amount, g.feature, g.validUntil])).toEqual([
      ["extra_messages", 5, null, Date.UTC(2026, 11, 24, 12)],
      ["extra_requests", 2, null, Date.UTC(2026, 11, 24, 12)],
      ["feature_unlock", 1, "pro", Date.UTC(2026, 11, 1, 12)],
    ]);
    expect(referee.every((g) => g.userId === "bob" && g.condition.kind === "always")).toBe(true);
  });

  it("offers every milestone, keyed per referrer so each is granted once", () => {
    const milestones = grants.filter((g) => g.trigger === "milestone");
    expect(milestones.map((g) => [g.rule, g.condition])).toEqual([
      ["five-signups-messages", { kind: "milestone", referrerId: "alice", signups: 5 }],
      ["five-signups-requests", { kind: "milestone", referrerId: "alice", signups: 5 }],
      ["ten-signups-pro", { kind: "milestone", referrerId: "alice", signups: 10 }],
    ]);
    expect(milestones.map((g) => g.dedupeKey)).toEqual([
      "milestone:alice:five-signups-messages",
      "milestone:alice:five-signups-requests",
      "milestone:alice:ten-signups-pro",
    ]);
    // Another referral of the same referrer offers the same keys: the second offer is a no-op.
    const again = planSignupGrants(DEFAULT_RULES, { ...signup, referralId: "ref-2" }).filter(
      (g) => g.trigger === "milestone",
    );
    expect(again.map((g) => g.dedupeKey)).toEqual(milestones.map((g) => g.dedupeKey));
  });

  it("keys every other grant by referral and rule", () => {
    const keys = grants.filter((g) => g.trigger === "signup").map((g) => g.dedupeKey);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.every((key) => key.startsWith("ref-1:"))).toBe(true);
  });
});

describe("caps", () => {
  it.each([
    ["the last instant of January", Date.UTC(2026, 1, 1) - 1, Date.UTC(2026, 0, 1)],
    ["the first instant of February", Date.UTC(2026, 1, 1), Date.UTC(2026, 1, 1)],
  ])("count rewarded referrals in the month of %s", (_name, when, monthStart) => {
    expect(capWindow(DEFAULT_RULES, when)).toMatchObject({ cap: 50, monthStart });
  });
});

describe("caps with qualifiedBy conversion", () => {
  const rules = { ...DEFAULT_RULES, qualifiedBy: "conversion" as const };

  it("does not cap the referrer's signup rewards", () => {
    expect(capWindow(rules, at).cap).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("caps the referrer's conversion rewards in the month of the conversion", () => {
    const [grant] = planConversionGrants(rules, { ...signup, triggerId: "evt_1" });
    expect(grant?.condition).toEqual({
      kind: "conversion_cap",
      referrerId: "alice",
      referralId: "ref-1",
      cap: 50,
      monthStart: Date.UTC(2026, 10, 1),
      monthEnd: Date.UTC(2026, 11, 1),
    });
  });

  it("leaves conversion rewards uncapped by default", () => {
    const [grant] = planConversionGrants(DEFAULT_RULES, { ...signup, triggerId: "evt_1" });
    expect(grant?.condition).toEqual({ kind: "always" });
  });
});

describe("conversion grants", () => {
  it("gives the referrer 1000 cents of credit that never expires", () => {
    const grants = planConversionGrants(DEFAULT_RULES, { ...signup, triggerId: "evt_1" });
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({
      userId: "alice",
      type: "account_credit",
      amount: 1000,
      currency: "usd",
      validUntil: null,
      trigger: "conversion",
      triggerId: "evt_1",
      dedupeKey: "ref-1:referrer-conversion-credit",
    });
  });
});

describe("rules as data", () => {
  it("takes a new reward type and amounts from config alone", () => {
    const rules = parseRules({
      rewardTypes: { ...DEFAULT_RULES.rewardTypes, storage_gb: { kind: "quantity" } },
      signup: {
        referrer: [{ id: "referrer-storage", type: "storage_gb", amount: 3, validFor: { months: 2 } }],
        referee: [{ id: "referee-messages", type: "extra_messages", amount: 20, validFor: { days: 14 } }],
      },
    });
    const grants = planSignupGrants(rules, signup);
    expect(grants.find((g) => g.rule === "referrer-storage")).toMatchObject({ type: "storage_gb", amount: 3 });
    const entries = grants.filter((g) => g.trigger === "signup").map((g) => ({ ...g, status: "active" as const }));
    const alice = computeEntitlements(
      rules,
      entries.filter((e) => e.userId === "alice"),
      at,
    );
    expect(alice.quantities.storage_gb).toBe(3);
    expect(
      computeEntitlements(
        rules,
        entries.filter((e) => e.userId === "bob"),
        at,
      ).extraMessages,
    ).toBe(20);
  });

  it.each([
    [
      { signup: { referrer: [{ id: "x", type: "nope", amount: 1, validFor: null }], referee: [] } },
      "unknown reward type",
    ],
    [
      { signup: { referrer: [{ id: "x", type: "feature_unlock", amount: 1, validFor: null }], referee: [] } },
      "names none",
    ],
    [
      { signup: { referrer: [{ id: "x", type: "account_credit", amount: 1, validFor: null }], referee: [] } },
      "currency",
    ],
    [
      {
        signup: {
          referrer: [{ id: "referee-pro-trial", type: "extra_messages", amount: 1, validFor: null }],
          referee: DEFAULT_RULES.signup.referee,
        },
      },
      "used twice",
    ],
    [{ caps: { rewardedReferralsPerMonth: -1 } }, "rewardedReferralsPerMonth"],
    [
      {
        multipliers: [
          { id: "m", from: "2026-12-02T00:00:00Z", until: "2026-12-01T00:00:00Z", factor: 2, triggers: ["signup"] },
        ],
      },
      "before until",
    ],
    [{ surprise: true }, "surprise"],
  ])("refuses invalid rules %#", (override, message) => {
    expect(() => parseRules(override)).toThrow(message);
  });
});
