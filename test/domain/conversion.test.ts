import { describe, expect, it } from "vitest";
import {
  type ChargeFact,
  chargeOfPayment,
  conversionRewardActions,
  conversionState,
  type DisputeFact,
  type ExistingReward,
  mergeCharge,
  mergeDispute,
  type PaymentFact,
  revenueByCurrency,
} from "../../src/domain/conversion";
import { DEFAULT_RULES, planConversionGrants } from "../../src/domain/rules";

const DAY = 86_400_000;
const t0 = Date.UTC(2026, 5, 1, 12);
const CLAWBACK = 30 * DAY;
const payment = (o: Partial<PaymentFact> = {}): PaymentFact => ({
  id: "in_1",
  customerId: "cus_1",
  paymentIntent: null,
  currency: "usd",
  amount: 2900,
  paidAt: t0,
  ...o,
});
const charge = (o: Partial<ChargeFact> = {}): ChargeFact => ({
  id: "ch_1",
  customerId: "cus_1",
  paymentIntent: "pi_1",
  currency: "usd",
  amount: 2900,
  amountRefunded: 0,
  fullyRefundedAt: null,
  createdAt: t0 + 2_000,
  ...o,
});
const dispute = (o: Partial<DisputeFact> = {}): DisputeFact => ({
  id: "dp_1",
  chargeId: "ch_1",
  paymentIntent: null,
  status: "needs_response",
  statusAt: t0 + DAY,
  ...o,
});

describe("facts", () => {
  it("merges charge sightings: refunds only grow, the full refund keeps its first time", () => {
    const partial = charge({ amountRefunded: 500 });
    const full = charge({ amountRefunded: 2900, fullyRefundedAt: t0 + 5 * DAY });
    expect(mergeCharge(partial, full)).toMatchObject({ amountRefunded: 2900, fullyRefundedAt: t0 + 5 * DAY });
    expect(mergeCharge(full, partial)).toMatchObject({ amountRefunded: 2900, fullyRefundedAt: t0 + 5 * DAY });
    expect(mergeCharge(full, { ...full, fullyRefundedAt: t0 + 9 * DAY }).fullyRefundedAt).toBe(t0 + 5 * DAY);
  });

  it("merges dispute sightings by event time, whatever the order", () => {
    const opened = dispute();
    const lost = dispute({ status: "lost", statusAt: t0 + 30 * DAY });
    expect(mergeDispute(opened, lost).status).toBe("lost");
    expect(mergeDispute(lost, opened).status).toBe("lost");
  });

  it("adds revenue per currency, net of refunds", () => {
    expect(
      revenueByCurrency(
        [payment(), payment({ id: "in_2" }), payment({ id: "in_3", currency: "eur", amount: 1000 })],
        [charge({ amountRefunded: 700 })],
      ),
    ).toEqual({ usd: { gross: 5800, refunded: 700 }, eur: { gross: 1000, refunded: 0 } });
  });
});

describe("matching a charge to a payment", () => {
  it("uses the payment intent when both sides know it", () => {
    const p = payment({ paymentIntent: "pi_2" });
    expect(chargeOfPayment(p, [charge(), charge({ id: "ch_2", paymentIntent: "pi_2", amount: 1 })])?.id).toBe("ch_2");
  });

  it("otherwise takes the same amount and currency created closest, within a day", () => {
    const charges = [
      charge({ id: "ch_far", createdAt: t0 + 2 * DAY }),
      charge({ id: "ch_near", createdAt: t0 + 3_000 }),
      charge({ id: "ch_other_amount", amount: 100, createdAt: t0 }),
      charge({ id: "ch_other_currency", currency: "eur", createdAt: t0 }),
    ];
    expect(chargeOfPayment(payment(), charges)?.id).toBe("ch_near");
    expect(chargeOfPayment(payment(), [charges[0] as ChargeFact])).toBeNull();
  });
});

describe("conversion state", () => {
  it("converts on the earliest payment above zero", () => {
    const state = conversionState(
      [
        payment({ id: "in_late", paidAt: t0 + DAY }),
        payment({ id: "in_zero", amount: 0, paidAt: t0 - DAY }),
        payment(),
      ],
      [],
      [],
      CLAWBACK,
    );
    expect(state).toEqual({ converting: payment(), clawedBackAt: null, held: false });
    expect(conversionState([payment({ amount: 0 })], [], [], CLAWBACK).converting).toBeNull();
  });

  it.each([
    [
      "a full refund inside the window",
      [charge({ amountRefunded: 2900, fullyRefundedAt: t0 + CLAWBACK })],
      [],
      t0 + CLAWBACK,
    ],
    [
      "a full refund after the window",
      [charge({ amountRefunded: 2900, fullyRefundedAt: t0 + CLAWBACK + 1 })],
      [],
      null,
    ],
    ["a partial refund", [charge({ amountRefunded: 2899 })], [], null],
    ["a lost dispute, at any time", [charge()], [dispute({ status: "lost", statusAt: t0 + 90 * DAY })], t0 + 90 * DAY],
    ["a won dispute", [charge()], [dispute({ status: "won" })], null],
  ])("claws back on %s: %s", (_name, charges, disputes, clawedBackAt) => {
    expect(
      conversionState([payment()], charges as ChargeFact[], disputes as DisputeFact[], CLAWBACK).clawedBackAt,
    ).toBe(clawedBackAt);
  });

  it("holds during an open dispute on the converting charge only", () => {
    expect(conversionState([payment()], [charge()], [dispute()], CLAWBACK).held).toBe(true);
    expect(conversionState([payment()], [charge()], [dispute({ chargeId: "ch_other" })], CLAWBACK).held).toBe(false);
    expect(
      conversionState(
        [payment({ paymentIntent: "pi_9" })],
        [],
        [dispute({ chargeId: "ch_x", paymentIntent: "pi_9" })],
        CLAWBACK,
      ).held,
    ).toBe(true);
  });
});

describe("conversion reward actions", () => {
  const planned = planConversionGrants(DEFAULT_RULES, {
    referralId: "r1",
    referrerId: "a",
    refereeId: "b",
    triggerId: "in_1",
    at: t0,
  });
  const entry = (o: Partial<ExistingReward> & Pick<ExistingReward, "status">): ExistingReward => ({
    id: "rw_1",
    dedupeKey: "r1:referrer-conversion-credit",
    triggerId: "in_1",
    revokedBy: o.status === "revoked" ? "stripe" : null,
    fulfilledAt: null,
    ...o,
  });
  const existing = (status: ExistingReward["status"], extra: ExistingReward[] = [], o: Partial<ExistingReward> = {}) =>
    new Map([entry({ status, ...o }), ...extra].map((r) => [r.dedupeKey, r]));
  const debtOf = (status: ExistingReward["status"]) =>
    entry({ id: "rw_2", dedupeKey: "r1:referrer-conversion-credit:clawback", status });
  const active = { converting: payment(), clawedBackAt: null, held: false };
  const held = { ...active, held: true };
  const clawed = { ...active, clawedBackAt: t0 + DAY };

  it("grants a missing reward in the state it should be in", () => {
    expect(
      conversionRewardActions(planned, new Map(), active).map((a) => [a.kind, "status" in a ? a.status : null]),
    ).toEqual([["insert", "active"]]);
    expect(conversionRewardActions(planned, new Map(), held)).toMatchObject([{ kind: "insert", status: "pending" }]);
    expect(conversionRewardActions(planned, new Map(), clawed)).toMatchObject([{ kind: "insert", status: "revoked" }]);
  });

  it("holds, releases and revokes an existing reward", () => {
    expect(conversionRewardActions(planned, existing("active"), held)).toEqual([
      { kind: "set_status", id: "rw_1", from: "active", to: "pending" },
    ]);
    expect(conversionRewardActions(planned, existing("pending"), active)).toEqual([
      { kind: "set_status", id: "rw_1", from: "pending", to: "active" },
    ]);
    expect(conversionRewardActions(planned, existing("pending"), clawed)).toEqual([
      { kind: "set_status", id: "rw_1", from: "pending", to: "revoked" },
    ]);
    expect(conversionRewardActions(planned, existing("active"), active)).toEqual([]);
  });

  it("reinstates a revocation the facts no longer support, and only one the facts made", () => {
    expect(conversionRewardActions(planned, existing("revoked"), active)).toEqual([
      { kind: "set_status", id: "rw_1", from: "revoked", to: "active" },
    ]);
    expect(conversionRewardActions(planned, existing("revoked"), held)).toEqual([
      { kind: "set_status", id: "rw_1", from: "revoked", to: "pending" },
    ]);
    expect(conversionRewardActions(planned, existing("revoked", [], { revokedBy: "operator" }), active)).toEqual([]);
    expect(conversionRewardActions(planned, existing("revoked"), clawed)).toEqual([]);
  });

  it("forgives a debt the facts no longer support, and owes it again if they do", () => {
    expect(conversionRewardActions(planned, existing("redeemed", [debtOf("active")]), active)).toEqual([
      { kind: "set_status", id: "rw_2", from: "active", to: "revoked" },
    ]);
    expect(conversionRewardActions(planned, existing("redeemed", [debtOf("revoked")]), clawed)).toEqual([
      { kind: "set_status", id: "rw_2", from: "revoked", to: "active" },
    ]);
    expect(conversionRewardActions(planned, existing("redeemed", [debtOf("revoked")]), active)).toEqual([]);
  });

  it("counts a reward revoked while its credit was being applied as spent: reinstated, it is redeemed", () => {
    const revokedMidway = existing("revoked", [debtOf("active")], { fulfilledAt: t0 });
    expect(conversionRewardActions(planned, revokedMidway, active)).toEqual([
      { kind: "set_status", id: "rw_2", from: "active", to: "revoked" },
      { kind: "set_status", id: "rw_1", from: "revoked", to: "redeemed" },
    ]);
    expect(conversionRewardActions(planned, revokedMidway, clawed)).toEqual([]);
  });

  it("records a spent reward's clawback as a negative entry, once", () => {
    const [debt] = conversionRewardActions(planned, existing("redeemed"), clawed);
    expect(debt).toMatchObject({
      kind: "debt",
      grant: { amount: -1000, trigger: "clawback", dedupeKey: "r1:referrer-conversion-credit:clawback" },
    });
    const withDebt = existing("redeemed", [debtOf("active")]);
    expect(conversionRewardActions(planned, withDebt, clawed)).toEqual([]);
  });

  it("moves a reward to an earlier payment that arrived late", () => {
    const later = existing("active", [], { triggerId: "in_2" });
    expect(conversionRewardActions(planned, later, active)).toMatchObject([
      { kind: "retarget", id: "rw_1", grant: { triggerId: "in_1" } },
    ]);
  });
});
