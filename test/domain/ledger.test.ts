import { describe, expect, it } from "vitest";
import type { RewardStatus } from "../../src/db/schema";
import { canTransition, computeEntitlements, type EntitlementEntry } from "../../src/domain/ledger";
import { DEFAULT_RULES } from "../../src/domain/rules";

const now = Date.UTC(2026, 10, 24, 12);
const DAY = 86_400_000;
const entry = (overrides: Partial<EntitlementEntry>): EntitlementEntry => ({
  type: "extra_messages",
  amount: 10,
  feature: null,
  status: "active",
  validFrom: now - DAY,
  validUntil: now + DAY,
  ...overrides,
});

describe("reward status transitions", () => {
  const statuses: RewardStatus[] = ["pending", "active", "redeemed", "expired", "revoked"];
  const allowed = new Set([
    "pending>active",
    "pending>expired",
    "pending>revoked",
    "active>pending",
    "active>redeemed",
    "active>expired",
    "active>revoked",
  ]);
  for (const from of statuses) {
    for (const to of statuses) {
      it(`${allowed.has(`${from}>${to}`) ? "allows" : "refuses"} ${from} → ${to}`, () => {
        expect(canTransition(from, to)).toBe(allowed.has(`${from}>${to}`));
      });
    }
  }
});

describe("entitlements", () => {
  it("adds up quantities and credit in force", () => {
    const result = computeEntitlements(
      DEFAULT_RULES,
      [
        entry({}),
        entry({ amount: 5 }),
        entry({ type: "extra_requests", amount: 2 }),
        entry({ type: "account_credit", amount: 1000, validUntil: null }),
        entry({ type: "account_credit", amount: -400, validUntil: null }),
      ],
      now,
    );
    expect(result).toEqual({
      extraMessages: 15,
      extraRequests: 2,
      creditCents: 600,
      features: [],
      quantities: { extra_messages: 15, extra_requests: 2 },
    });
  });

  it.each([
    ["pending", { status: "pending" as const }],
    ["redeemed", { status: "redeemed" as const }],
    ["expired", { status: "expired" as const }],
    ["revoked", { status: "revoked" as const }],
    ["past its end though the expiry job has not run", { validUntil: now }],
    ["not started yet", { validFrom: now + 1 }],
  ])("ignores an entry that is %s", (_name, overrides) => {
    expect(computeEntitlements(DEFAULT_RULES, [entry(overrides)], now).extraMessages).toBe(0);
  });

  it("counts an entry from its first instant to just before its end", () => {
    expect(computeEntitlements(DEFAULT_RULES, [entry({ validFrom: now })], now).extraMessages).toBe(10);
    expect(computeEntitlements(DEFAULT_RULES, [entry({ validUntil: now + 1 })], now).extraMessages).toBe(10);
  });

  it("unlocks a feature until the latest end among its entries", () => {
    const unlock = (validUntil: number | null, feature = "pro") =>
      entry({ type: "feature_unlock", amount: 1, feature, validUntil });
    const result = computeEntitlements(
      DEFAULT_RULES,
      [unlock(now + 7 * DAY), unlock(now + 30 * DAY), unlock(now - 1), unlock(now + DAY, "beta")],
      now,
    );
    expect(result.features).toEqual([
      { feature: "beta", until: new Date(now + DAY).toISOString() },
      { feature: "pro", until: new Date(now + 30 * DAY).toISOString() },
    ]);
    expect(computeEntitlements(DEFAULT_RULES, [unlock(now + DAY), unlock(null)], now).features).toEqual([
      { feature: "pro", until: null },
    ]);
  });
  it("never unlocks a feature from a debt entry (a negative amount, no end)", () => {
    const debt = entry({ type: "feature_unlock", amount: -1, feature: "pro", validUntil: null });
    expect(computeEntitlements(DEFAULT_RULES, [debt], now).features).toEqual([]);
  });
});
