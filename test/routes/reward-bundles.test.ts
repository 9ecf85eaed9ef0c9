import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { holdOrRelease, revokeReward } from "../../src/admin/actions";
import { createDb } from "../../src/db/client";
import { runScheduled } from "../../src/scheduled";
import { API_KEY, call, countRows, createCode, widgetToken } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  invoicePaid,
  newChargeId,
  newCustomerId,
} from "../stripe/fixtures";

const DAY = 86_400_000;

/** The spec's "$10 credit OR 1 month of Pro OR 50 messages + 25 requests". */
const credit = {
  id: "credit",
  label: "$10 credit",
  type: "account_credit",
  amount: 1000,
  currency: "usd",
  validFor: null,
};
const proMonth = { id: "pro-month", type: "feature_unlock", amount: 1, feature: "pro", validFor: { months: 1 } };
const usage = {
  id: "usage",
  label: "50 messages + 25 requests",
  grants: [
    { type: "extra_messages", amount: 50, validFor: { months: 3 } },
    { type: "extra_requests", amount: 25, validFor: { months: 3 } },
  ],
};
const withRules = (rules: Record<string, unknown>) =>
  ({
    ...env,
    REWARD_RULES: JSON.stringify({ signup: { referrer: [], referee: [] }, milestones: [], ...rules }),
  }) as Env;
const conversionChoice = (rule: Record<string, unknown>) =>
  withRules({ conversion: { referrer: [{ id: "conversion-choice", ...rule }], referee: [] } });

const bindings = conversionChoice({ choices: [credit, proMonth, usage], chooseWithinDays: 7 });
/** The bundle first, so the cron takes it; and a 14-day hold. */
const held = conversionChoice({ choices: [usage, credit], chooseWithinDays: 7, holdDays: 14 });

type Json = Record<string, unknown> & { error?: { code: string; message: string } };
type Reward = Json & { id: string; bundle?: Reward[] };

async function post(path: string, body: unknown, using = bindings, authorization = `Bearer ${API_KEY}`) {
  const res = await call(
    path,
    {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
    using,
  );
  return { status: res.status, body: (await res.json()) as Reward };
}

async function entitlements(userId: string, using = bindings) {
  const res = await call(
    `/api/users/${userId}/entitlements`,
    { headers: { authorization: `Bearer ${API_KEY}` } },
    using,
  );
  expect(res.status).toBe(200);
  return (await res.json()) as { extraMessages: number; extraRequests: number; creditCents: number; features: Json[] };
}

let n = 0;
/** A referee who paid `daysAgo` days ago; returns the referrer's entry awaiting a choice. */
async function converted(name: string, using = bindings, daysAgo = 1) {
  const referrerId = `${name}-referrer-${++n}`;
  const refereeId = `${name}-referee-${n}`;
  const code = await createCode(referrerId, name.slice(0, 4));
  expect((await post("/api/attributions", { refereeId, code }, using)).status).toBe(201);
  const customer = newCustomerId();
  const paidAt = Math.floor(Date.now() / 1000) * 1000 - daysAgo * DAY;
  for (const event of [
    checkoutCompleted({ userId: refereeId, customer, at: paidAt - 60_000 }),
    invoicePaid({ customer, at: paidAt }),
  ]) {
    expect((await deliver(event, { bindings: using })).status).toBe(200);
  }
  const row = await env.DB.prepare("SELECT id, dedupe_key FROM rewards WHERE user_id = ? AND choices IS NOT NULL")
    .bind(referrerId)
    .first<{ id: string; dedupe_key: string }>();
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
      { bindings: using },
    );
  return { referrerId, refereeId, id: row.id, key: row.dedupe_key, paidAt, refund };
}

interface Row {
  id: string;
  type: string;
  amount: number;
  status: string;
  trigger: string;
  dedupe_key: string;
  bundle_of: string | null;
  available_at: number | null;
  revoked_by: string | null;
}

/** The referrer's ledger, oldest first, entry before its bundle. */
async function ledger(userId: string): Promise<Row[]> {
  const { results } = await env.DB.prepare(
    `SELECT id, type, amount, status, "trigger", dedupe_key, bundle_of, available_at, revoked_by FROM rewards
     WHERE user_id = ? ORDER BY dedupe_key`,
  )
    .bind(userId)
    .all<Row>();
  return results;
}

const outbox = (type: string, rewardId: string) =>
  countRows(
    "SELECT count(*) AS n FROM outbox_events WHERE type = ? AND json_extract(payload, '$.rewardId') = ?",
    type,
    rewardId,
  );

describe("a bundled option", () => {
  it("grants every reward of the bundle at once: the entry becomes the first, each further one an entry of its own", async () => {
    const r = await converted("bundle");
    const res = await post(`/api/rewards/${r.id}/choose`, { choice: "usage" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: r.id,
      status: "active",
      type: "extra_messages",
      amount: 50,
      choice: "usage",
      bundleOf: null,
    });
    const usageOffer = (res.body.choices as Json[]).find((option) => option.id === "usage");
    expect(usageOffer).toMatchObject({ label: "50 messages + 25 requests", type: "extra_messages", amount: 50 });
    expect(((usageOffer?.grants ?? []) as Json[]).map((g) => [g.type, g.amount])).toEqual([
      ["extra_messages", 50],
      ["extra_requests", 25],
    ]);
    expect(res.body.bundle).toHaveLength(1);
    const part = res.body.bundle?.[0] as Reward;
    expect(part).toMatchObject({
      status: "active",
      type: "extra_requests",
      amount: 25,
      rule: "conversion-choice",
      trigger: "conversion",
      triggerId: res.body.triggerId,
      validUntil: res.body.validUntil,
      choices: null,
      choice: null,
      bundleOf: r.id,
    });

    expect(await ledger(r.referrerId)).toEqual([
      expect.objectContaining({ id: r.id, type: "extra_messages", amount: 50, status: "active", bundle_of: null }),
      expect.objectContaining({
        id: part.id,
        type: "extra_requests",
        amount: 25,
        status: "active",
        trigger: "conversion",
        dedupe_key: `${r.key}:bundle:1`,
        bundle_of: r.id,
      }),
    ]);
    expect(await entitlements(r.referrerId)).toMatchObject({ extraMessages: 50, extraRequests: 25, creditCents: 0 });
    expect(await outbox("reward.granted", part.id)).toBe(1);

    // The same choice again answers the same, and grants nothing more.
    const again = await post(`/api/rewards/${r.id}/choose`, { choice: "usage" });
    expect(again.status).toBe(200);
    expect(again.body.bundle?.map((b) => b.id)).toEqual([part.id]);
    expect(await ledger(r.referrerId)).toHaveLength(2);
    // A single option's answer has an empty bundle.
    const single = await converted("single");
    const pro = await post(`/api/rewards/${single.id}/choose`, { choice: "pro-month" });
    expect(pro.status).toBe(200);
    expect(pro.body).toMatchObject({ type: "feature_unlock", choice: "pro-month", bundle: [] });
  });

  it("lets the user take a bundle in the widget, for their own reward only", async () => {
    const r = await converted("widget");
    const other = await post(
      `/widgets/v1/me/rewards/${r.id}/choose`,
      { choice: "usage" },
      bindings,
      `Bearer ${await widgetToken(r.refereeId)}`,
    );
    expect(other.status).toBe(404);
    expect(await ledger(r.referrerId)).toHaveLength(1);
    const mine = await post(
      `/widgets/v1/me/rewards/${r.id}/choose`,
      { choice: "usage" },
      bindings,
      `Bearer ${await widgetToken(r.referrerId)}`,
    );
    expect(mine.status).toBe(200);
    expect(mine.body.bundle?.map((b) => [b.type, b.amount, b.bundleOf])).toEqual([["extra_requests", 25, r.id]]);
    expect(await entitlements(r.referrerId)).toMatchObject({ extraMessages: 50, extraRequests: 25 });
  });

  it("grants the bundle exactly once when the same choice is sent many times at once", async () => {
    const r = await converted("same-race");
    const results = await Promise.all(
      Array.from({ length: 6 }, () => post(`/api/rewards/${r.id}/choose`, { choice: "usage" })),
    );
    expect(results.map((res) => res.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const partIds = new Set(results.map((res) => res.body.bundle?.[0]?.id));
    expect(partIds.size).toBe(1);
    expect((await ledger(r.referrerId)).map((row) => [row.type, row.amount, row.bundle_of])).toEqual([
      ["extra_messages", 50, null],
      ["extra_requests", 25, r.id],
    ]);
    // One grant told to the host for the bundle's further reward, however many calls.
    expect(
      await countRows(
        `SELECT count(*) AS n FROM outbox_events WHERE type = 'reward.granted'
         AND json_extract(payload, '$.userId') = ? AND json_extract(payload, '$.type') = 'extra_requests'`,
        r.referrerId,
      ),
    ).toBe(1);
  });

  it("takes exactly one option when different ones race, granting a bundle's rewards only if it won", async () => {
    const r = await converted("mixed-race");
    const choices = ["usage", "credit", "pro-month", "usage", "credit", "usage"];
    const results = await Promise.all(choices.map((choice) => post(`/api/rewards/${r.id}/choose`, { choice })));
    const rows = await ledger(r.referrerId);
    const winner = await env.DB.prepare("SELECT choice FROM rewards WHERE id = ?").bind(r.id).first<string>("choice");
    results.forEach((res, i) => {
      expect(res.status).toBe(choices[i] === winner ? 200 : 409);
    });
    expect(rows).toHaveLength(winner === "usage" ? 2 : 1);
    expect(rows.filter((row) => row.bundle_of !== null)).toHaveLength(winner === "usage" ? 1 : 0);
  });

  it("revokes the entry and every reward of its bundle when the payment is refunded, telling the host of each", async () => {
    const r = await converted("refund");
    const chosen = await post(`/api/rewards/${r.id}/choose`, { choice: "usage" });
    const partId = chosen.body.bundle?.[0]?.id as string;
    expect((await r.refund()).status).toBe(200);
    expect((await ledger(r.referrerId)).map((row) => [row.type, row.amount, row.status, row.revoked_by])).toEqual([
      ["extra_messages", 50, "revoked", "stripe"],
      ["extra_requests", 25, "revoked", "stripe"],
    ]);
    expect(await entitlements(r.referrerId)).toMatchObject({ extraMessages: 0, extraRequests: 0 });
    expect(await outbox("reward.revoked", r.id)).toBe(1);
    expect(await outbox("reward.revoked", partId)).toBe(1);
  });

  it("claws back a spent reward of the bundle with a debt, and revokes the unspent ones", async () => {
    const r = await converted("spent");
    const chosen = await post(`/api/rewards/${r.id}/choose`, { choice: "usage" });
    const partId = chosen.body.bundle?.[0]?.id as string;
    expect((await post(`/api/rewards/${partId}/redeem`, undefined)).status).toBe(200);
    expect((await r.refund()).status).toBe(200);
    expect((await r.refund()).status).toBe(200);
    expect((await ledger(r.referrerId)).map((row) => [row.type, row.amount, row.status, row.trigger])).toEqual([
      ["extra_messages", 50, "revoked", "conversion"],
      ["extra_requests", 25, "redeemed", "conversion"],
      ["extra_requests", -25, "active", "clawback"],
    ]);
    const debt = (await ledger(r.referrerId))[2];
    expect(debt?.dedupe_key).toBe(`${r.key}:bundle:1:clawback`);
    expect(debt?.bundle_of).toBeNull();
    expect(await entitlements(r.referrerId)).toMatchObject({ extraMessages: 0, extraRequests: -25 });
  });

  it("claws back a spent single option as what was chosen, not as the first option", async () => {
    const r = await converted("chosen-debt");
    expect((await post(`/api/rewards/${r.id}/choose`, { choice: "pro-month" })).status).toBe(200);
    expect((await post(`/api/rewards/${r.id}/redeem`, undefined)).status).toBe(200);
    expect((await r.refund()).status).toBe(200);
    expect((await ledger(r.referrerId)).map((row) => [row.type, row.amount, row.status, row.trigger])).toEqual([
      ["feature_unlock", 1, "redeemed", "conversion"],
      ["feature_unlock", -1, "active", "clawback"],
    ]);
    expect((await entitlements(r.referrerId)).features).toEqual([]);
  });

  it("lets an operator revoke, hold and release the bundle with its entry", async () => {
    const db = createDb(env.DB);
    const who = { actor: "test-operator", note: "self-referral found by hand" };
    const r = await converted("operator");
    const chosen = await post(`/api/rewards/${r.id}/choose`, { choice: "usage" });
    const partId = chosen.body.bundle?.[0]?.id as string;

    await holdOrRelease(db, r.id, "hold", who, Date.now());
    expect((await ledger(r.referrerId)).map((row) => [row.status, row.available_at])).toEqual([
      ["pending", null],
      ["pending", null],
    ]);
    expect(await entitlements(r.referrerId)).toMatchObject({ extraMessages: 0, extraRequests: 0 });
    await holdOrRelease(db, r.id, "release", who, Date.now());
    expect((await ledger(r.referrerId)).map((row) => row.status)).toEqual(["active", "active"]);

    await revokeReward(db, r.id, who, Date.now());
    expect((await ledger(r.referrerId)).map((row) => [row.status, row.revoked_by])).toEqual([
      ["revoked", "operator"],
      ["revoked", "operator"],
    ]);
    expect(await outbox("reward.revoked", partId)).toBe(1);
    expect(await countRows("SELECT count(*) AS n FROM admin_audit WHERE reward_id = ?", r.id)).toBe(3);
  });
});

describe("a bundled option with a hold", () => {
  it("keeps every reward of the bundle pending until the hold ends, then the cron activates them together", async () => {
    const r = await converted("held", held);
    const res = await post(`/api/rewards/${r.id}/choose`, { choice: "usage" }, held);
    expect(res.status).toBe(200);
    const availableAt = new Date(r.paidAt + 14 * DAY).toISOString();
    expect(res.body).toMatchObject({ status: "pending", availableAt });
    expect(res.body.bundle?.[0]).toMatchObject({ status: "pending", availableAt, type: "extra_requests" });
    expect(await entitlements(r.referrerId, held)).toMatchObject({ extraMessages: 0, extraRequests: 0 });

    await runScheduled(held, r.paidAt + 14 * DAY + 1);
    expect((await ledger(r.referrerId)).map((row) => row.status)).toEqual(["active", "active"]);
  });

  it("revokes the whole bundle outright when the payment is refunded inside the hold: no debt", async () => {
    const r = await converted("held-refund", held);
    expect((await post(`/api/rewards/${r.id}/choose`, { choice: "usage" }, held)).status).toBe(200);
    expect((await r.refund()).status).toBe(200);
    expect((await ledger(r.referrerId)).map((row) => [row.amount, row.status])).toEqual([
      [50, "revoked"],
      [25, "revoked"],
    ]);
  });

  it("takes the bundle for a referrer who did not choose in time (the cron, once)", async () => {
    const r = await converted("late", held, 8);
    const first = await runScheduled(held, Date.now());
    expect(first.defaultedChoices).toBe(1);
    expect((await ledger(r.referrerId)).map((row) => [row.type, row.amount, row.status, row.bundle_of])).toEqual([
      ["extra_messages", 50, "pending", null],
      ["extra_requests", 25, "pending", r.id],
    ]);
    expect((await runScheduled(held, Date.now())).defaultedChoices).toBe(0);
    expect(await ledger(r.referrerId)).toHaveLength(2);
  });
});

describe("a bundled milestone", () => {
  /** One qualified conversion reaches the milestone, which offers a bundle. */
  const milestone = withRules({
    qualifiedBy: "conversion",
    conversion: { referrer: [], referee: [] },
    milestones: [
      { id: "first-customer", signups: 1, grants: [{ id: "first-customer-pick", choices: [credit, usage] }] },
    ],
  });

  it("takes back the milestone and every reward of its bundle when the count drops below it", async () => {
    const r = await converted("milestone", milestone);
    expect((await post(`/api/rewards/${r.id}/choose`, { choice: "usage" }, milestone)).status).toBe(200);
    expect((await ledger(r.referrerId)).map((row) => [row.amount, row.status, row.trigger])).toEqual([
      [50, "active", "milestone"],
      [25, "active", "milestone"],
    ]);
    expect((await r.refund()).status).toBe(200);
    expect((await ledger(r.referrerId)).map((row) => [row.amount, row.status, row.revoked_by])).toEqual([
      [50, "revoked", "milestone"],
      [25, "revoked", "milestone"],
    ]);
  });
});
