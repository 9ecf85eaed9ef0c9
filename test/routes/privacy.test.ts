import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { runScheduled } from "../../src/scheduled";
import { api, attribute, click, clickForToken, counter, countRows, createCode, flush, type Json } from "../helpers";
import { checkoutCompleted, deliver, invoicePaid, newCustomerId } from "../stripe/fixtures";

const DAY = 86_400_000;

async function rewardTotals() {
  return env.DB.prepare("SELECT count(*) AS entries, sum(amount) AS amount FROM rewards").first();
}

describe("GET /api/users/:userId/export", () => {
  it("returns everything stored about the user", async () => {
    const code = await createCode("export-alice", "exa");
    await attribute({ refereeId: "export-bob", token: await clickForToken(code, { ip: "100.90.0.1" }) });
    const customer = newCustomerId();
    await deliver(checkoutCompleted({ userId: "export-bob", customer, at: Date.now() - DAY }));

    await flush(code);
    const res = await api("/api/users/export-bob/export");
    expect(res.status).toBe(200);
    const data = (await res.json()) as Json & { rewards: unknown[]; stripe: { customers: { customerId: string }[] } };
    expect(data.userId).toBe("export-bob");
    expect(data.referredBy).toMatchObject({ code, referrerId: "export-alice", refereeId: "export-bob" });
    expect(data.rewards).toHaveLength(3);
    expect(data.visitorHashes).toHaveLength(1);
    expect(data.stripe.customers.map((c) => c.customerId)).toEqual([customer]);
    expect(data.clickThatReferredThem).toMatchObject({ code, isBot: false });
    expect(data.clickThatReferredThem).toHaveProperty("id", (data.referredBy as { clickId: string }).clickId);
    const events = data.events as { type: string; payload: Record<string, unknown> }[];
    expect(events.map((event) => event.type)).toContain("referral.signed_up");
    expect(events.every((event) => Object.values(event.payload).includes("export-bob"))).toBe(true);

    const alice = (await (await api("/api/users/export-alice/export")).json()) as Json & { referralsMade: unknown[] };
    expect(alice.code).toMatchObject({ code, userId: "export-alice" });
    expect(alice.referralsMade).toHaveLength(1);
  });

  it("answers 404 for a user nothing is stored about", async () => {
    const res = await api("/api/users/never-seen/export");
    expect(res.status).toBe(404);
    expect(((await res.json()) as Json).error?.code).toBe("user_not_found");
  });
});

describe("DELETE /api/users/:userId", () => {
  it("replaces the user's id everywhere by one tombstone, and keeps amounts and counters", async () => {
    const code = await createCode("erase-carol", "erc");
    await api(`/api/codes/${code}`, { method: "PATCH", body: { displayName: "Carol C." } });
    const token = await clickForToken(code, { ip: "100.91.0.1" });
    await attribute({ refereeId: "erase-dan", token });
    await attribute({ refereeId: "erase-erin", code });
    const customer = newCustomerId();
    await deliver(checkoutCompleted({ userId: "erase-dan", customer, at: Date.now() - DAY }));
    await deliver(invoicePaid({ customer, at: Date.now() - DAY + 60_000 }));
    const ledgerBefore = await rewardTotals();
    const countersBefore = await env.DB.prepare("SELECT signups, conversions FROM referral_codes WHERE code = ?")
      .bind(code)
      .first();

    const res = await api("/api/users/erase-carol", { method: "DELETE" });
    expect(res.status).toBe(200);
    const { tombstone, erased } = (await res.json()) as { tombstone: string; erased: Record<string, number> };
    expect(tombstone).toMatch(/^erased:[0-9a-f-]{36}$/);
    expect(erased).toMatchObject({ code: 1, referralsMade: 2, rewards: 5 });

    for (const [table, column] of [
      ["referral_codes", "user_id"],
      ["referrals", "referrer_id"],
      ["rewards", "user_id"],
      ["user_visitors", "user_id"],
    ]) {
      expect(await countRows(`SELECT count(*) AS n FROM ${table} WHERE ${column} = 'erase-carol'`)).toBe(0);
    }
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referrer_id = ?", tombstone)).toBe(2);
    expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = ?", tombstone)).toBe(5);
    const retired = await env.DB.prepare(
      "SELECT code, display_name AS name, email_hash AS hash FROM referral_codes WHERE user_id = ?",
    )
      .bind(tombstone)
      .first<{ code: string; name: null; hash: null }>();
    expect(retired).toMatchObject({ name: null, hash: null });
    // The code named its owner ("ERC…"): it is retired for a fresh one, with every row that named it.
    expect(retired?.code).toMatch(/^[A-Z0-9]+-[A-Z]{4}[0-9]{4}$/);
    expect(retired?.code).not.toBe(code);
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE code = ?", retired?.code)).toBe(2);
    expect(await rewardTotals()).toEqual(ledgerBefore);
    expect(
      await env.DB.prepare("SELECT signups, conversions FROM referral_codes WHERE code = ?")
        .bind(retired?.code)
        .first(),
    ).toEqual(countersBefore);
    expect(await countRows("SELECT count(*) AS n FROM outbox_events WHERE payload LIKE '%erase-carol%'")).toBe(0);
    // The referees' own events stay, naming the tombstone as their referrer.
    expect(
      await countRows(
        `SELECT count(*) AS n FROM outbox_events
         WHERE type = 'referral.signed_up' AND json_extract(payload, '$.referrerId') = ?
           AND json_extract(payload, '$.refereeId') IN ('erase-dan', 'erase-erin')`,
        tombstone,
      ),
    ).toBe(2);
    expect(
      await countRows("SELECT count(*) AS n FROM outbox_events WHERE json_extract(payload, '$.userId') = 'erase-dan'"),
    ).toBeGreaterThan(0);

    // The old link still leads to the product, but is an unknown code: it counts nothing and refers nobody.
    const late = await clickForToken(code, { ip: "100.91.0.2" });
    expect(await counter(code).counters(code)).toEqual({ clicks: 0, uniqueClicks: 0, botClicks: 0 });
    expect((await attribute({ refereeId: "erase-late", code })).status).toBe(404);
    expect((await attribute({ refereeId: "erase-late", token: late })).status).toBe(404);
    expect((await attribute({ refereeId: "erase-late", code: retired?.code })).status).toBe(404);
    expect((await api("/api/users/erase-carol/export")).status).toBe(404);
    expect((await api("/api/users/erase-carol", { method: "DELETE" })).status).toBe(404);
  });

  it("unlinks a referee from the click that brought them", async () => {
    const code = await createCode("erase-frank", "erf");
    await attribute({ refereeId: "erase-gina", token: await clickForToken(code, { ip: "100.92.0.1" }) });
    expect((await api("/api/users/erase-gina", { method: "DELETE" })).status).toBe(200);
    const referral = await env.DB.prepare(
      "SELECT referee_id AS referee, click_id AS clickId FROM referrals WHERE code = ?",
    )
      .bind(code)
      .first<{ referee: string; clickId: string | null }>();
    expect(referral?.referee).toMatch(/^erased:/);
    expect(referral?.clickId).toBeNull();
    expect(await countRows("SELECT count(*) AS n FROM user_visitors WHERE user_id = 'erase-gina'")).toBe(0);
  });
});

describe("retention", () => {
  it("purges click rows past CLICK_RETENTION_DAYS and keeps the aggregates they fed", async () => {
    const code = await createCode("retention-owner", "ret");
    for (let i = 0; i < 3; i++) await click(code, { ip: `100.93.0.${i}` });
    await flush(code);
    const aggregates = await env.DB.prepare("SELECT sum(clicks) AS clicks FROM code_daily WHERE code = ?")
      .bind(code)
      .first();
    await env.DB.prepare(
      "UPDATE clicks SET clicked_at = clicked_at - ? WHERE code = ? AND rowid IN (SELECT rowid FROM clicks WHERE code = ? LIMIT 2)",
    )
      .bind(91 * DAY, code, code)
      .run();

    const { purged } = await runScheduled(env, Date.now());

    expect(purged.clicks).toBeGreaterThanOrEqual(2);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(1);
    expect(
      await env.DB.prepare("SELECT sum(clicks) AS clicks FROM code_daily WHERE code = ?").bind(code).first(),
    ).toEqual(aggregates);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(3);
  });

  it("drops visitor hashes once their day has passed", async () => {
    const code = await createCode("hash-owner", "hsh");
    await attribute({ refereeId: "hash-referee", token: await clickForToken(code, { ip: "100.94.0.1" }) });
    expect(await countRows("SELECT count(*) AS n FROM user_visitors WHERE user_id = 'hash-referee'")).toBe(1);
    await runScheduled(env, Date.now() + 3 * DAY);
    expect(await countRows("SELECT count(*) AS n FROM user_visitors WHERE user_id = 'hash-referee'")).toBe(0);
  });
});
