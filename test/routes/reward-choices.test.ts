import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { runScheduled } from "../../src/scheduled";
import { API_KEY, call, createCode, widgetToken } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  invoicePaid,
  newChargeId,
  newCustomerId,
} from "../stripe/fixtures";

const DAY = 86_400_000;

/** The spec's offer on conversion: $10 credit OR a month of Pro OR 50 messages, chosen within 7 days. */
const RULES = {
  signup: { referrer: [], referee: [] },
  milestones: [],
  conversion: {
    referrer: [
      {
        id: "conversion-choice",
        choices: [
          { id: "credit", type: "account_credit", amount: 1000, currency: "usd", validFor: null },
          { id: "pro-month", type: "feature_unlock", amount: 1, feature: "pro", validFor: { months: 1 } },
          { id: "messages", type: "extra_messages", amount: 50, validFor: { months: 3 } },
        ],
        chooseWithinDays: 7,
      },
    ],
    referee: [],
  },
};
const bindings = { ...env, REWARD_RULES: JSON.stringify(RULES) } as Env;

type Json = Record<string, unknown> & { error?: { code: string; message: string } };

async function post(path: string, body: unknown, authorization = `Bearer ${API_KEY}`) {
  const res = await call(
    path,
    {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
    bindings,
  );
  return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
}

async function get(path: string) {
  const res = await call(path, { headers: { authorization: `Bearer ${API_KEY}` } }, bindings);
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

let n = 0;
/** A referee who paid `daysAgo` days ago; returns the referrer's reward awaiting a choice. */
async function convertedWithChoice(name: string, daysAgo = 1) {
  const referrerId = `${name}-referrer-${++n}`;
  const refereeId = `${name}-referee-${n}`;
  const code = await createCode(referrerId, name.slice(0, 4));
  expect((await post("/api/attributions", { refereeId, code })).status).toBe(201);
  const customer = newCustomerId();
  const paidAt = Math.floor(Date.now() / 1000) * 1000 - daysAgo * DAY;
  for (const event of [
    checkoutCompleted({ userId: refereeId, customer, at: paidAt - 60_000 }),
    invoicePaid({ customer, at: paidAt }),
  ]) {
    expect((await deliver(event, { bindings })).status).toBe(200);
  }
  const row = await env.DB.prepare("SELECT id FROM rewards WHERE user_id = ? AND rule = 'conversion-choice'")
    .bind(referrerId)
    .first<{ id: string }>();
  if (!row) throw new Error("no reward awaiting a choice");
  const refund = () =>
    deliver(
      chargeRefunded({
        customer,
        chargeId: newChargeId(),
        chargedAt: paidAt + 1_000,
        at: paidAt + DAY,
        amountRefunded: 2900,
      }),
      { bindings },
    );
  return { referrerId, refereeId, id: row.id, paidAt, refund };
}

const stored = (id: string) =>
  env.DB.prepare("SELECT status, type, amount, currency, feature, choice, valid_until FROM rewards WHERE id = ?")
    .bind(id)
    .first<Record<string, unknown>>();

describe("the referrer chooses their reward", () => {
  it("grants a pending entry that offers the options, counted in nothing until one is taken", async () => {
    const r = await convertedWithChoice("offer");
    const { rewards } = (await get(`/api/users/${r.referrerId}/rewards`)) as { rewards: Json[] };
    expect(rewards).toHaveLength(1);
    expect(rewards[0]).toMatchObject({
      id: r.id,
      status: "pending",
      choice: null,
      chooseBy: new Date(r.paidAt + 7 * DAY).toISOString(),
      validUntil: null,
    });
    expect(((rewards[0]?.choices ?? []) as Json[]).map((c) => [c.id, c.type, c.amount])).toEqual([
      ["credit", "account_credit", 1000],
      ["pro-month", "feature_unlock", 1],
      ["messages", "extra_messages", 50],
    ]);
    expect(await get(`/api/users/${r.referrerId}/entitlements`)).toMatchObject({
      creditCents: 0,
      extraMessages: 0,
      features: [],
    });
  });

  it("takes the choice once: the entry becomes that reward, the same choice again is a no-op, another is refused", async () => {
    const r = await convertedWithChoice("choose");
    const res = await post(`/api/rewards/${r.id}/choose`, { choice: "pro-month" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: r.id,
      status: "active",
      type: "feature_unlock",
      feature: "pro",
      choice: "pro-month",
      chooseBy: null,
    });
    expect(await stored(r.id)).toMatchObject({
      status: "active",
      type: "feature_unlock",
      amount: 1,
      choice: "pro-month",
    });
    const entitlements = await get(`/api/users/${r.referrerId}/entitlements`);
    expect((entitlements.features as Json[]).map((f) => f.feature)).toEqual(["pro"]);

    expect((await post(`/api/rewards/${r.id}/choose`, { choice: "pro-month" })).status).toBe(200);
    const again = await post(`/api/rewards/${r.id}/choose`, { choice: "credit" });
    expect(again.status).toBe(409);
    expect(again.body.error?.code).toBe("already_chosen");
    expect(await stored(r.id)).toMatchObject({ type: "feature_unlock", choice: "pro-month" });
  });

  it("refuses an option the reward does not offer, a missing choice, and an unknown reward", async () => {
    const r = await convertedWithChoice("refuse");
    const unknown = await post(`/api/rewards/${r.id}/choose`, { choice: "yacht" });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error?.code).toBe("invalid_request");
    expect((await post(`/api/rewards/${r.id}/choose`, {})).status).toBe(400);
    const missing = await post(`/api/rewards/${crypto.randomUUID()}/choose`, { choice: "credit" });
    expect(missing.status).toBe(404);
    expect(missing.body.error?.code).toBe("reward_not_found");
    expect((await post(`/api/rewards/${r.id}/choose`, { choice: "credit" }, "Bearer wrong")).status).toBe(401);
    expect(await stored(r.id)).toMatchObject({ status: "pending", choice: null });
  });

  it("takes exactly one choice under concurrent calls", async () => {
    const r = await convertedWithChoice("race");
    const choices = ["credit", "pro-month", "messages", "credit", "messages", "pro-month"];
    const results = await Promise.all(choices.map((choice) => post(`/api/rewards/${r.id}/choose`, { choice })));
    const row = await stored(r.id);
    const winner = row?.choice as string;
    expect(choices).toContain(winner);
    results.forEach((res, i) => {
      expect(res.status).toBe(choices[i] === winner ? 200 : 409);
    });
    const count = await env.DB.prepare("SELECT count(*) AS n FROM rewards WHERE user_id = ?")
      .bind(r.referrerId)
      .first();
    expect(count).toEqual({ n: 1 });
  });

  it("lets the user choose in the widget with their widget token, and only for their own reward", async () => {
    const r = await convertedWithChoice("widget");
    const token = await widgetToken(r.referrerId);
    const other = await widgetToken(r.refereeId);
    const notTheirs = await post(`/widgets/v1/me/rewards/${r.id}/choose`, { choice: "credit" }, `Bearer ${other}`);
    expect(notTheirs.status).toBe(404);
    const res = await post(`/widgets/v1/me/rewards/${r.id}/choose`, { choice: "messages" }, `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.body).toMatchObject({ status: "active", type: "extra_messages", amount: 50, choice: "messages" });
    expect((await get(`/api/users/${r.referrerId}/entitlements`)).extraMessages).toBe(50);

    // A dashboard on a widget origin may send the choice from the browser.
    const preflight = await call(
      `/widgets/v1/me/rewards/${r.id}/choose`,
      {
        method: "OPTIONS",
        headers: {
          origin: "https://dashboard.example.com",
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type",
        },
      },
      bindings,
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("Content-Type");
  });

  it("takes the first option for the referrer when the time to choose has run out (the cron, once)", async () => {
    const late = await convertedWithChoice("late", 8);
    const inTime = await convertedWithChoice("intime", 1);
    await runScheduled(bindings, Date.now());
    expect(await stored(late.id)).toMatchObject({
      status: "active",
      type: "account_credit",
      amount: 1000,
      currency: "usd",
      choice: "credit",
    });
    expect(await stored(inTime.id)).toMatchObject({ status: "pending", choice: null });
    const second = await runScheduled(bindings, Date.now());
    expect(second.defaultedChoices).toBe(0);
    expect((await get(`/api/users/${late.referrerId}/entitlements`)).creditCents).toBe(1000);
  });

  it("revokes an unchosen reward whose payment is refunded; it can no longer be chosen", async () => {
    const r = await convertedWithChoice("refunded");
    expect((await r.refund()).status).toBe(200);
    expect(await stored(r.id)).toMatchObject({ status: "revoked", choice: null });
    const res = await post(`/api/rewards/${r.id}/choose`, { choice: "credit" });
    expect(res.status).toBe(409);
    expect(res.body.error?.code).toBe("invalid_transition");
  });
});
