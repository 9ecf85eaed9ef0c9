import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { createDb } from "../../src/db/client";
import { runScheduled } from "../../src/scheduled";
import { attribute } from "../../src/services/attributions";
import { testBindings } from "../bindings";
import { API_KEY, call, countRows, createCode } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  disputeEvent,
  invoicePaid,
  newChargeId,
  newCustomerId,
  newDisputeId,
} from "../stripe/fixtures";

const DAY = 86_400_000;

/** The referrer's signup messages wait 3 days; conversion credit waits 14. */
const RULES = {
  signup: {
    referrer: [
      { id: "held-signup-messages", type: "extra_messages", amount: 10, validFor: { months: 1 }, holdDays: 3 },
    ],
    referee: [{ id: "held-referee-requests", type: "extra_requests", amount: 2, validFor: null }],
  },
  conversion: {
    referrer: [
      {
        id: "held-conversion-credit",
        type: "account_credit",
        amount: 1000,
        currency: "usd",
        validFor: null,
        holdDays: 14,
      },
    ],
    referee: [],
  },
};
const bindings = { ...env, REWARD_RULES: JSON.stringify(RULES) } as Env;
const config = parseConfig({ ...testBindings, REWARD_RULES: JSON.stringify(RULES) });
const deps = () => ({ db: createDb(env.DB), config });

function apiCall(path: string, body?: unknown) {
  return call(
    path,
    {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
    bindings,
  );
}

type Reward = { id: string; rule: string; status: string; amount: number; availableAt: string | null };

async function rewardsOf(userId: string): Promise<Reward[]> {
  const res = await apiCall(`/api/users/${userId}/rewards?limit=100`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { rewards: Reward[] }).rewards;
}

async function entitlements(userId: string) {
  const res = await apiCall(`/api/users/${userId}/entitlements`);
  expect(res.status).toBe(200);
  return (await res.json()) as { extraMessages: number; creditCents: number };
}

const stored = (userId: string, rule: string) =>
  env.DB.prepare(
    "SELECT id, status, amount, available_at, revoked_by FROM rewards WHERE user_id = ? AND rule = ? AND amount > 0",
  )
    .bind(userId, rule)
    .first<{ id: string; status: string; amount: number; available_at: number | null; revoked_by: string | null }>();

describe("holding period on signup rewards", () => {
  it("grants the referrer's reward pending with the date it becomes available, and counts it in nothing yet", async () => {
    const code = await createCode("hold-signup", "hold");
    const before = Date.now();
    const res = await apiCall("/api/attributions", { refereeId: "hold-signup-referee", code });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { rewards: Reward[] };
    const held = body.rewards.find((r) => r.rule === "held-signup-messages");
    expect(held?.status).toBe("pending");
    expect(Date.parse(held?.availableAt ?? "")).toBeGreaterThanOrEqual(before + 3 * DAY);
    // The referee's reward has no hold.
    expect(body.rewards.find((r) => r.rule === "held-referee-requests")).toMatchObject({
      status: "active",
      availableAt: null,
    });

    expect((await entitlements("hold-signup")).extraMessages).toBe(0);
    const row = await stored("hold-signup", "held-signup-messages");
    expect(row?.status).toBe("pending");
    expect(row?.available_at).toBe(Date.parse(held?.availableAt ?? ""));
  });

  it("counts a pending reward past its date as active before the cron runs, then the cron activates it once", async () => {
    const code = await createCode("hold-past", "past");
    const signedUpAt = Date.now() - 4 * DAY;
    await attribute(deps(), { refereeId: "hold-past-referee", code }, signedUpAt);
    expect((await stored("hold-past", "held-signup-messages"))?.status).toBe("pending");

    expect((await entitlements("hold-past")).extraMessages).toBe(10);
    const [listed] = (await rewardsOf("hold-past")).filter((r) => r.rule === "held-signup-messages");
    expect(listed).toMatchObject({ status: "active", availableAt: new Date(signedUpAt + 3 * DAY).toISOString() });

    const now = Date.now();
    await runScheduled(bindings, now);
    expect((await stored("hold-past", "held-signup-messages"))?.status).toBe("active");
    const second = await runScheduled(bindings, now);
    expect((await stored("hold-past", "held-signup-messages"))?.status).toBe("active");
    expect(second.activatedRewards).toBe(0);
    expect((await entitlements("hold-past")).extraMessages).toBe(10);
  });

  it("redeems a reward past its hold, and refuses one still inside it", async () => {
    const code = await createCode("hold-redeem", "redm");
    await attribute(deps(), { refereeId: "hold-redeem-referee", code }, Date.now() - 4 * DAY);
    const code2 = await createCode("hold-early", "erly");
    await attribute(deps(), { refereeId: "hold-early-referee", code: code2 }, Date.now());
    const past = await stored("hold-redeem", "held-signup-messages");
    const early = await stored("hold-early", "held-signup-messages");

    const ok = await apiCall(`/api/rewards/${past?.id}/redeem`, {});
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Reward).status).toBe("redeemed");
    const refused = await apiCall(`/api/rewards/${early?.id}/redeem`, {});
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("invalid_transition");
    expect((await stored("hold-early", "held-signup-messages"))?.status).toBe("pending");
  });
});

/** A referee who pays `paidAt`: the referrer's conversion credit is held 14 days from then. */
async function converted(name: string, paidAt: number) {
  const referrerId = `${name}-referrer`;
  const refereeId = `${name}-referee`;
  const code = await createCode(referrerId, name.slice(0, 4));
  await attribute(deps(), { refereeId, code }, paidAt - DAY);
  const customer = newCustomerId();
  const chargeId = newChargeId();
  const invoice = `in_${name}_${customer}`;
  for (const event of [
    checkoutCompleted({ userId: refereeId, customer, at: paidAt - 60_000 }),
    invoicePaid({ customer, at: paidAt, id: invoice }),
  ]) {
    expect((await deliver(event, { bindings })).status).toBe(200);
  }
  const refund = (at: number) =>
    deliver(chargeRefunded({ customer, chargeId, chargedAt: paidAt + 1_000, at, amountRefunded: 2900 }), { bindings });
  return { referrerId, refereeId, customer, chargeId, refund };
}

describe("holding period on conversion rewards", () => {
  it("grants conversion credit pending until 14 days after the payment", async () => {
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - DAY;
    const r = await converted("hold-conv", paidAt);
    const row = await stored(r.referrerId, "held-conversion-credit");
    expect(row).toMatchObject({ status: "pending", amount: 1000, available_at: paidAt + 14 * DAY });
    expect((await entitlements(r.referrerId)).creditCents).toBe(0);
    const [listed] = (await rewardsOf(r.referrerId)).filter((x) => x.rule === "held-conversion-credit");
    expect(listed).toMatchObject({ status: "pending", availableAt: new Date(paidAt + 14 * DAY).toISOString() });
  });

  it("revokes the held credit outright when the payment is refunded inside the hold: no negative entry", async () => {
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - 5 * DAY;
    const r = await converted("hold-refund", paidAt);
    const res = await r.refund(paidAt + 2 * DAY);
    expect(res.status).toBe(200);
    const row = await stored(r.referrerId, "held-conversion-credit");
    expect(row).toMatchObject({ status: "revoked", revoked_by: "stripe" });
    expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = ? AND amount < 0", r.referrerId)).toBe(0);
    expect((await entitlements(r.referrerId)).creditCents).toBe(0);
  });

  it("after the hold, a refund of spent credit is clawed back with a debt entry as before", async () => {
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - 20 * DAY;
    const r = await converted("hold-after", paidAt);
    expect((await entitlements(r.referrerId)).creditCents).toBe(1000);
    const row = await stored(r.referrerId, "held-conversion-credit");
    expect((await apiCall(`/api/rewards/${row?.id}/redeem`, {})).status).toBe(200);

    expect((await r.refund(paidAt + 16 * DAY)).status).toBe(200);
    expect((await stored(r.referrerId, "held-conversion-credit"))?.status).toBe("redeemed");
    const debt = await env.DB.prepare('SELECT amount, status, "trigger" FROM rewards WHERE user_id = ? AND amount < 0')
      .bind(r.referrerId)
      .first();
    expect(debt).toEqual({ amount: -1000, status: "active", trigger: "clawback" });
  });

  it("a dispute opened during the hold keeps the credit pending past its date, and a won dispute gives the date back", async () => {
    const paidAt = Math.floor(Date.now() / 1000) * 1000 - 20 * DAY;
    const r = await converted("hold-dispute", paidAt);
    // A small refund makes the charge known, as it is without a Stripe key.
    await deliver(
      chargeRefunded({
        customer: r.customer,
        chargeId: r.chargeId,
        chargedAt: paidAt + 1_000,
        at: paidAt + DAY,
        amountRefunded: 100,
      }),
      { bindings },
    );
    const disputeId = newDisputeId();
    await deliver(
      disputeEvent("charge.dispute.created", {
        disputeId,
        chargeId: r.chargeId,
        status: "needs_response",
        at: paidAt + 2 * DAY,
      }),
      { bindings },
    );
    expect(await stored(r.referrerId, "held-conversion-credit")).toMatchObject({
      status: "pending",
      available_at: null,
    });
    expect((await entitlements(r.referrerId)).creditCents).toBe(0);
    await runScheduled(bindings, Date.now());
    expect((await stored(r.referrerId, "held-conversion-credit"))?.status).toBe("pending");

    await deliver(
      disputeEvent("charge.dispute.closed", { disputeId, chargeId: r.chargeId, status: "won", at: paidAt + 9 * DAY }),
      { bindings },
    );
    expect(await stored(r.referrerId, "held-conversion-credit")).toMatchObject({
      status: "pending",
      available_at: paidAt + 14 * DAY,
    });
    expect((await entitlements(r.referrerId)).creditCents).toBe(1000);
  });
});
