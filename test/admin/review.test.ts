import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RATE_LIMITS } from "../../src/admin/pages/settings";
import { testBindings } from "../bindings";
import { attribute, createCode } from "../helpers";
import { ADMIN_KEY, csrfOf, login, page, post } from "./console";

describe("fraud review in the console", () => {
  it("lists refused attributions newest first, filters by reason, and pages with a cursor", async () => {
    const session = await login();
    expect(await (await page(session, "/admin/fraud")).text()).toContain("Nothing refused yet");
    const code = await createCode("fraud-ivy", "ivy");
    // A real refusal through the API: the referrer referring themself.
    expect((await attribute({ refereeId: "fraud-ivy", code })).status).toBe(422);
    const base = Date.now() - 3_600_000;
    const insert = env.DB.prepare(
      "INSERT INTO blocked_attributions (id, code, referee_id, reason, created_at) VALUES (?, ?, ?, ?, ?)",
    );
    await env.DB.batch(
      Array.from({ length: 30 }, (_, i) =>
        insert.bind(`blocked-${String(i).padStart(2, "0")}`, code, `fraud-referee-${i}`, "rate_of_signups", base + i),
      ),
    );
    const html = await (await page(session, "/admin/fraud")).text();
    const rows = [...html.matchAll(/<code>(fraud-[a-z-]+\d*)<\/code>/g)].map((m) => m[1]);
    expect(rows).toHaveLength(25);
    expect(rows[0]).toBe("fraud-ivy");
    expect(rows[1]).toBe("fraud-referee-29");
    const next = html.match(/href="\/admin\/fraud\?cursor=([^"]+)" rel="next"/)?.[1];
    const second = await (await page(session, `/admin/fraud?cursor=${next}`)).text();
    expect([...second.matchAll(/<code>(fraud-referee-\d+)<\/code>/g)].map((m) => m[1])).toHaveLength(6);

    const ownReason = (
      await env.DB.prepare("SELECT reason FROM blocked_attributions WHERE referee_id = 'fraud-ivy'").first<{
        reason: string;
      }>()
    )?.reason;
    const filtered = await (await page(session, `/admin/fraud?reason=${ownReason}`)).text();
    expect([...filtered.matchAll(/<code>(fraud-[a-z-]+\d*)<\/code>/g)].map((m) => m[1])).toEqual(["fraud-ivy"]);
    expect(filtered).toContain(`<option value="${ownReason}" selected="">`);
  });
});

describe("deliveries in the console", () => {
  it("shows outbound events with their state and retries a failing one now", async () => {
    const session = await login();
    const code = await createCode("deliv-jack", "jack");
    expect((await attribute({ refereeId: "deliv-kim", code })).status).toBe(201);
    const later = Date.now() + 6 * 3_600_000;
    const failing = await env.DB.prepare(
      "UPDATE outbox_events SET attempts = 3, last_status = 500, last_error = 'HTTP 500', next_attempt_at = ?, delivered_at = NULL WHERE sequence = (SELECT max(sequence) FROM outbox_events) RETURNING sequence",
    )
      .bind(later)
      .first<{ sequence: number }>();
    const sequence = failing?.sequence as number;
    const html = await (await page(session, "/admin/deliveries?state=failing")).text();
    expect(html).toContain(`data-sequence="${sequence}"`);
    expect(html).toContain("HTTP 500");
    expect(html).toContain(`action="/admin/deliveries/${sequence}/retry"`);

    const refused = await post(session, `/admin/deliveries/${sequence}/retry`, {});
    expect(refused.status).toBe(403);
    const unchanged = await env.DB.prepare("SELECT next_attempt_at AS at FROM outbox_events WHERE sequence = ?")
      .bind(sequence)
      .first<{ at: number }>();
    expect(unchanged?.at).toBe(later);

    const before = Date.now();
    const res = await post(session, `/admin/deliveries/${sequence}/retry`, { _csrf: await csrfOf(session) });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/deliveries?done=retry");
    const row = await env.DB.prepare("SELECT next_attempt_at AS at, delivered_at FROM outbox_events WHERE sequence = ?")
      .bind(sequence)
      .first<{ at: number; delivered_at: number | null }>();
    expect(row?.at).toBeGreaterThanOrEqual(before);
    expect(row?.at).toBeLessThanOrEqual(Date.now());
  });

  it("lists held and unprocessable Stripe events", async () => {
    const session = await login();
    const empty = await (await page(session, "/admin/deliveries")).text();
    expect(empty).toContain("None held");
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO stripe_deferred_events (event_id, customer_id, payload, received_at) VALUES ('evt_held_1', 'cus_held_1', ?, ?)",
      ).bind(JSON.stringify({ id: "evt_held_1", type: "invoice.paid" }), Date.now()),
      env.DB.prepare(
        "INSERT INTO stripe_events (id, type, processed_at, outcome, reason) VALUES ('evt_bad_1', 'invoice.paid', ?, 'unprocessable', 'amount_paid is missing')",
      ).bind(Date.now()),
    ]);
    const html = await (await page(session, "/admin/deliveries")).text();
    expect(html).toContain("evt_held_1");
    expect(html).toContain("cus_held_1");
    expect(html).toContain("evt_bad_1");
    expect(html).toContain("amount_paid is missing");
  });
});

describe("settings in the console", () => {
  it("shows the effective rules, window, cookie, limits and integrations, never a secret", async () => {
    const res = await page(await login(), "/admin/settings");
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("60 days");
    expect(html).toContain("<code>ref_token</code>");
    expect(html).toContain("referrer-signup-messages");
    expect(html).toContain("1,200 / 60 s");
    expect(html).toMatch(/Stripe webhook<\/th><td><span class="badge active">configured/);
    expect(html).toMatch(/Outbound events<\/th><td><span class="badge pending">off/);
    expect(html).toMatch(
      /Click in the signup URL<\/th><td><span class="badge active">configured<\/span><\/td><td>as ref_click=/,
    );
    expect(html).toMatch(/Click log in R2<\/th><td><span class="badge active">configured/);
    expect(html).toMatch(/Promotion codes for referees<\/th><td><span class="badge pending">off/);
    expect(html).toContain('<dd data-testid="widget-product-name">(none: generic wording)</dd>');
    expect(html).toContain(
      '<dd data-testid="widget-share-text">Join me on {productName}: use my link to get a welcome bonus.</dd>',
    );
    expect(html).toContain('<code data-testid="widget-brand-color">#3730a3</code>');
    for (const secret of [
      ADMIN_KEY,
      "test-api-key-0123456789",
      "whsec_test_current",
      "test-attribution-secret",
      "test-widget-secret",
      testBindings.VISITOR_SALT,
    ]) {
      expect(html).not.toContain(secret);
    }
  });
});

describe("the settings page's rate limits", () => {
  it("match the budgets wrangler.toml gives the limiters", async () => {
    const toml = (await import("../../wrangler.toml?raw")).default;
    const declared = [...toml.matchAll(/name = "(\w+)".*\n.*\nsimple = \{ limit = (\d+), period = (\d+) \}/g)].map(
      (m) => ({ binding: m[1], limit: Number(m[2]), period: Number(m[3]) }),
    );
    expect(RATE_LIMITS.map(({ binding, limit, period }) => ({ binding, limit, period }))).toEqual(declared);
  });
});
