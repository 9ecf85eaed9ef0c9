import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { canReinstate } from "../../src/domain/ledger";
import { api, attribute, countRows, createCode, type Json } from "../helpers";
import { csrfOf, login, page, post, type Session } from "./console";

interface RewardRowRaw {
  id: string;
  status: string;
  amount: number;
  dedupe_key: string;
  revoked_at: number | null;
  revoked_by: string | null;
  rule: string;
  user_id: string;
}

const rewardRow = (id: string) => env.DB.prepare("SELECT * FROM rewards WHERE id = ?").bind(id).first<RewardRowRaw>();
const auditRows = (userId: string) =>
  env.DB.prepare("SELECT * FROM admin_audit WHERE user_id = ? ORDER BY created_at, id")
    .bind(userId)
    .all<{ actor: string; action: string; reward_id: string; note: string; created_at: number }>()
    .then((r) => r.results);
const eventsOf = (rewardId: string) =>
  env.DB.prepare("SELECT type FROM outbox_events WHERE json_extract(payload, '$.rewardId') = ? ORDER BY sequence")
    .bind(rewardId)
    .all<{ type: string }>()
    .then((r) => r.results.map((e) => e.type));

let n = 0;
/** A referrer with one signup: their active `extra_messages` reward, and a signed-in operator. */
async function setup(): Promise<{ userId: string; rewardId: string; session: Session; csrf: string }> {
  const userId = `act-referrer-${++n}`;
  const code = await createCode(userId);
  expect((await attribute({ refereeId: `act-referee-${n}`, code })).status).toBe(201);
  const ledger = (await (await api(`/api/users/${userId}/rewards?limit=50`)).json()) as { rewards: Json[] };
  const reward = ledger.rewards.find((r) => r.type === "extra_messages");
  const session = await login();
  return { userId, rewardId: reward?.id as string, session, csrf: await csrfOf(session) };
}

describe("ledger actions in the console", () => {
  it("shows a confirmation with what will happen before revoking", async () => {
    const { rewardId, session } = await setup();
    const res = await page(session, `/admin/rewards/${rewardId}/revoke`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("The reward moves to revoked, by the operator");
    expect(html).toContain('name="note"');
    expect((await rewardRow(rewardId))?.status).toBe("active");
  });

  it("revokes an active reward by the operator, with the audit row and the outbound event", async () => {
    const { userId, rewardId, session, csrf } = await setup();
    const before = Date.now();
    const res = await post(session, `/admin/rewards/${rewardId}/revoke`, {
      _csrf: csrf,
      confirm: "yes",
      note: "Self-referral confirmed by support",
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/admin/referrers/${userId}?done=revoke`);
    const row = await rewardRow(rewardId);
    expect(row).toMatchObject({ status: "revoked", revoked_by: "operator" });
    expect(row?.revoked_at).toBeGreaterThanOrEqual(before);
    const audit = await auditRows(userId);
    expect(audit).toEqual([
      expect.objectContaining({
        action: "reward.revoke",
        reward_id: rewardId,
        note: "Self-referral confirmed by support",
        actor: expect.stringMatching(/^key:[0-9a-f]{12}$/),
      }),
    ]);
    expect(await eventsOf(rewardId)).toEqual(["reward.granted", "reward.revoked"]);
    // Final: the Stripe path only reinstates its own revocations.
    expect(canReinstate("revoked", row?.revoked_by ?? null, "active")).toBe(false);

    const html = await (await page(session, `/admin/referrers/${userId}?done=revoke`)).text();
    expect(html).toContain("The reward was revoked and the action recorded.");
    expect(html).toContain("Self-referral confirmed by support");
  });

  it("claws back a redeemed reward with a debt entry, never editing it, and only once", async () => {
    const { userId, rewardId, session, csrf } = await setup();
    expect((await api(`/api/rewards/${rewardId}/redeem`, { method: "POST" })).status).toBe(200);
    const confirm = await (await page(session, `/admin/rewards/${rewardId}/revoke`)).text();
    expect(confirm).toContain("a debt entry");
    const fields = { _csrf: csrf, confirm: "yes", note: "Chargeback outside Stripe" };
    expect((await post(session, `/admin/rewards/${rewardId}/revoke`, fields)).status).toBe(303);
    const original = await rewardRow(rewardId);
    expect(original).toMatchObject({ status: "redeemed", revoked_by: null });
    const debt = await env.DB.prepare("SELECT * FROM rewards WHERE dedupe_key = ?")
      .bind(`${original?.dedupe_key}:clawback`)
      .first<RewardRowRaw & { trigger: string }>();
    expect(debt).toMatchObject({
      amount: -(original?.amount ?? 0),
      status: "active",
      trigger: "clawback",
      user_id: userId,
    });
    expect(await eventsOf(debt?.id ?? "")).toEqual(["reward.granted"]);

    const again = await post(session, `/admin/rewards/${rewardId}/revoke`, fields);
    expect(again.status).toBe(409);
    expect(await again.text()).toContain("already clawed back");
    expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = ? AND amount < 0", userId)).toBe(1);
    expect(await auditRows(userId)).toHaveLength(1);
  });

  it("puts a reward on hold and releases it, each recorded", async () => {
    const { userId, rewardId, session, csrf } = await setup();
    const hold = await post(session, `/admin/rewards/${rewardId}/hold`, {
      _csrf: csrf,
      confirm: "yes",
      note: "Investigating",
    });
    expect(hold.status).toBe(303);
    expect((await rewardRow(rewardId))?.status).toBe("pending");
    const held = (await (await api(`/api/users/${userId}/entitlements`)).json()) as Json;
    expect(held.extraMessages).toBe(0);
    const twice = await post(session, `/admin/rewards/${rewardId}/hold`, {
      _csrf: csrf,
      confirm: "yes",
      note: "Again",
    });
    expect(twice.status).toBe(409);
    const release = await post(session, `/admin/rewards/${rewardId}/release`, {
      _csrf: csrf,
      confirm: "yes",
      note: "Cleared",
    });
    expect(release.status).toBe(303);
    expect((await rewardRow(rewardId))?.status).toBe("active");
    expect((await auditRows(userId)).map((a) => [a.action, a.note])).toEqual([
      ["reward.hold", "Investigating"],
      ["reward.release", "Cleared"],
    ]);
  });

  it("grants a manual reward after a confirmation step, with the audit row and the event", async () => {
    const { userId, session, csrf } = await setup();
    const fields = {
      _csrf: csrf,
      type: "account_credit",
      amount: "1500",
      validDays: "30",
      currency: "usd",
      feature: "",
      note: "Goodwill for the outage",
    };
    const review = await post(session, `/admin/referrers/${userId}/grant`, fields);
    expect(review.status).toBe(200);
    expect(await review.text()).toContain("gets $15.00 account_credit");
    expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = ? AND rule = 'operator'", userId)).toBe(
      0,
    );

    const before = Date.now();
    const res = await post(session, `/admin/referrers/${userId}/grant`, { ...fields, confirm: "yes" });
    expect(res.status).toBe(303);
    const granted = await env.DB.prepare("SELECT * FROM rewards WHERE user_id = ? AND rule = 'operator'")
      .bind(userId)
      .first<RewardRowRaw & { currency: string; valid_until: number; type: string }>();
    expect(granted).toMatchObject({ type: "account_credit", amount: 1500, currency: "usd", status: "active" });
    expect(granted?.valid_until).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
    expect(await eventsOf(granted?.id ?? "")).toEqual(["reward.granted"]);
    expect((await auditRows(userId)).map((a) => [a.action, a.reward_id, a.note])).toEqual([
      ["reward.grant", granted?.id, "Goodwill for the outage"],
    ]);
    const unknown = await post(session, `/admin/referrers/${userId}/grant`, {
      ...fields,
      type: "gold_bars",
      confirm: "yes",
    });
    expect(unknown.status).toBe(400);
  });

  it("changes nothing without the CSRF token, or without a note", async () => {
    const { userId, rewardId, session, csrf } = await setup();
    const events = await countRows("SELECT count(*) AS n FROM outbox_events");
    for (const fields of [
      { confirm: "yes", note: "No token" },
      { _csrf: "wrong", confirm: "yes", note: "Wrong token" },
    ] as Record<string, string>[]) {
      const res = await post(session, `/admin/rewards/${rewardId}/revoke`, fields);
      expect(res.status).toBe(403);
      const grant = await post(session, `/admin/referrers/${userId}/grant`, {
        ...fields,
        type: "extra_messages",
        amount: "5",
      });
      expect(grant.status).toBe(403);
    }
    const noNote = await post(session, `/admin/rewards/${rewardId}/revoke`, { _csrf: csrf, confirm: "yes", note: " " });
    expect(noNote.status).toBe(400);
    expect(await noNote.text()).toContain("Write a note");
    expect((await rewardRow(rewardId))?.status).toBe("active");
    expect(await auditRows(userId)).toEqual([]);
    expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = ? AND rule = 'operator'", userId)).toBe(
      0,
    );
    expect(await countRows("SELECT count(*) AS n FROM outbox_events")).toBe(events);
  });
});

describe("erasure and the console's audit log", () => {
  it("exports a user's audit rows and erases their id from them, keeping what was done", async () => {
    const { userId, rewardId, session, csrf } = await setup();
    const note = `Revoked: ${userId} shared the link on a coupon site`;
    expect(
      (await post(session, `/admin/rewards/${rewardId}/revoke`, { _csrf: csrf, confirm: "yes", note })).status,
    ).toBe(303);
    const exported = (await (await api(`/api/users/${userId}/export`)).json()) as { operatorActions: Json[] };
    expect(exported.operatorActions).toEqual([expect.objectContaining({ action: "reward.revoke", note })]);
    expect((await api(`/api/users/${userId}`, { method: "DELETE" })).status).toBe(200);
    expect(await auditRows(userId)).toEqual([]);
    const kept = await env.DB.prepare("SELECT user_id, note, action FROM admin_audit WHERE reward_id = ?")
      .bind(rewardId)
      .first<{ user_id: string; note: string; action: string }>();
    expect(kept?.action).toBe("reward.revoke");
    expect(kept?.user_id).toMatch(/^erased:/);
    expect(kept?.note).not.toContain(userId);
    expect(kept?.note).toContain(kept?.user_id);
  });
});
