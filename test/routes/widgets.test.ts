import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signWidgetToken } from "../../src/domain/widget-token";
import {
  API_KEY,
  api,
  attribute,
  BROWSER_UA,
  call,
  callHost,
  click,
  clickForToken,
  createCode,
  flush,
  flushAll,
  type Json,
  widgetCall,
  widgetToken,
} from "../helpers";

type Me = {
  userId: string;
  code: string;
  shareUrl: string;
  counters: { clicks: number; uniqueClicks: number; signups: number; conversions: number; conversionRate: number };
  rewards: { counts: Record<string, number>; recent: { rule: string }[] };
  entitlements: { extraMessages: number };
};
const DASHBOARD = "https://dashboard.example.com";
const today = () => new Date().toISOString().slice(0, 10);

describe("POST /api/widget-tokens", () => {
  it("issues a token for one user, valid for an hour", async () => {
    const before = Date.now();
    const res = await api("/api/widget-tokens", { body: { userId: "tok-user" } });
    const after = Date.now();
    expect(res.status).toBe(201);
    const body = (await res.json()) as { token: string; expiresAt: string };
    expect(body.token).toMatch(/^[\w-]+\.[\w-]+$/);
    // An hour from the moment it was issued, whole seconds: however long the call took.
    expect(Date.parse(body.expiresAt)).toBeGreaterThanOrEqual(before + 3_600_000 - 1_000);
    expect(Date.parse(body.expiresAt)).toBeLessThanOrEqual(after + 3_600_000);
  });

  it("needs an API key", async () => {
    const res = await call("/api/widget-tokens", {
      method: "POST",
      body: JSON.stringify({ userId: "x" }),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(401);
  });
});

describe("GET /widgets/v1/me", () => {
  it("shows the token's user their link, live counters, rewards and entitlements", async () => {
    const code = await createCode("widget-alice", "wali");
    await click(code, { ip: "198.18.0.1" });
    await click(code, { ip: "198.18.0.2" });
    await attribute({ refereeId: "widget-bob", code });

    const res = await widgetCall("/widgets/v1/me", await widgetToken("widget-alice"));
    expect(res.status).toBe(200);
    const me = (await res.json()) as Me;
    expect(me).toMatchObject({
      userId: "widget-alice",
      code,
      shareUrl: `https://refer.example.com/r/${code}`,
      counters: { clicks: 2, uniqueClicks: 2, signups: 1, conversions: 0, conversionRate: 0 },
      entitlements: { extraMessages: 10 },
    });
    expect(me.rewards.counts).toEqual({ pending: 0, active: 2, redeemed: 0, expired: 0, revoked: 0 });
    expect(me.rewards.recent.map((r) => r.rule).sort()).toEqual([
      "referrer-signup-messages",
      "referrer-signup-requests",
    ]);
  });

  it("gives the link on PUBLIC_URL whatever Host the request names", async () => {
    const code = await createCode("widget-host", "whst");
    const res = await callHost("http://evil.example", "/widgets/v1/me", {
      headers: { authorization: `Bearer ${await widgetToken("widget-host")}` },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Me).shareUrl).toBe(`https://refer.example.com/r/${code}`);
  });

  it("never accepts an API key, a forged, or an expired token", async () => {
    await createCode("widget-carol", "carl");
    const forged = await signWidgetToken("widget-carol", Date.now() + 60_000, {
      kid: "w2",
      secret: "not-the-real-secret-000000",
    });
    const expired = await signWidgetToken("widget-carol", Date.now() - 1, {
      kid: "w2",
      secret: "test-widget-secret-new-00000",
    });
    for (const [token, code] of [
      [API_KEY, "unauthorized"],
      [forged, "unauthorized"],
      [expired, "token_expired"],
      [null, "unauthorized"],
    ] as const) {
      const res = await widgetCall("/widgets/v1/me", token);
      expect(res.status).toBe(401);
      expect(((await res.json()) as Json).error?.code).toBe(code);
    }
  });

  it("accepts a token signed with a retired key that is still listed", async () => {
    await createCode("widget-dan", "dan");
    const old = await signWidgetToken("widget-dan", Date.now() + 60_000, {
      kid: "w1",
      secret: "test-widget-secret-old-00000",
    });
    expect((await widgetCall("/widgets/v1/me", old)).status).toBe(200);
  });

  it("remembers the dashboard's browser, so a signup from it is refused as the referrer's own", async () => {
    const code = await createCode("dash-owner", "dash");
    const browser = { "user-agent": BROWSER_UA, "cf-connecting-ip": "198.51.100.99" };
    expect((await widgetCall("/widgets/v1/me", await widgetToken("dash-owner"), browser)).status).toBe(200);

    const token = await clickForToken(code, { ip: "198.51.100.99" });
    const refused = await attribute({ refereeId: "dash-alt", token });
    expect(refused.status).toBe(422);
    expect(refused.body.error?.code).toBe("same_visitor");
  });

  it("answers 404 for a user without a code", async () => {
    const res = await widgetCall("/widgets/v1/me", await widgetToken("no-code-user"));
    expect(res.status).toBe(404);
  });

  it("serves an ETag and a short private cache life, and 304 while nothing changed", async () => {
    const code = await createCode("widget-erin", "erin");
    const token = await widgetToken("widget-erin");
    const first = await widgetCall("/widgets/v1/me", token);
    const etag = first.headers.get("etag");
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(first.headers.get("cache-control")).toBe("private, max-age=15");

    const again = await widgetCall("/widgets/v1/me", token, { "if-none-match": etag ?? "" });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    expect(await again.text()).toBe("");

    await click(code);
    const changed = await widgetCall("/widgets/v1/me", token, { "if-none-match": etag ?? "" });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
  });
});

describe("CORS on /widgets/*", () => {
  it("allows the configured dashboard origin, with ETag exposed", async () => {
    await createCode("cors-user", "cors");
    const res = await widgetCall("/widgets/v1/me", await widgetToken("cors-user"), { origin: DASHBOARD });
    expect(res.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
    expect(res.headers.get("access-control-expose-headers")).toContain("ETag");
  });

  it("keeps the CORS headers on a 304, so the dashboard can read its revalidation", async () => {
    await createCode("cors-etag-user", "corsetag");
    const token = await widgetToken("cors-etag-user");
    const first = await widgetCall("/widgets/v1/me", token, { origin: DASHBOARD });
    const again = await widgetCall("/widgets/v1/me", token, {
      origin: DASHBOARD,
      "if-none-match": first.headers.get("etag") ?? "",
    });
    expect(again.status).toBe(304);
    expect(again.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
    expect(again.headers.get("cache-control")).toBe("private, max-age=15");
  });

  it("answers a preflight from an allowed origin", async () => {
    const res = await call("/widgets/v1/me", {
      method: "OPTIONS",
      headers: {
        origin: DASHBOARD,
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
    expect(res.headers.get("access-control-allow-headers")).toContain("Authorization");
    expect(res.headers.get("access-control-allow-methods")).toContain("GET");
  });

  it("gives any other origin no CORS headers, on requests and preflights", async () => {
    const res = await widgetCall("/widgets/v1/leaderboard", await widgetToken("cors-user"), {
      origin: "https://evil.example.net",
    });
    const corsHeaders = (r: Response) => [...r.headers.keys()].filter((name) => name.startsWith("access-control-"));
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual([]);
    expect(res.headers.get("vary")).toContain("Origin");
    const preflight = await call("/widgets/v1/me", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.net", "access-control-request-method": "GET" },
    });
    expect(preflight.status).toBe(204);
    expect(corsHeaders(preflight)).toEqual([]);
  });

  it("keeps CORS headers on errors, so the dashboard can read them", async () => {
    const res = await widgetCall("/widgets/v1/me", null, { origin: DASHBOARD });
    expect(res.status).toBe(401);
    expect(res.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
  });
});

describe("GET /widgets/v1/me/timeseries", () => {
  it("returns zero-filled UTC days ending today, with today's clicks after the flush", async () => {
    const code = await createCode("series-user", "ser");
    await click(code, { ip: "198.18.1.1" });
    await click(code, { ip: "198.18.1.2" });
    await attribute({ refereeId: "series-ref", code });
    await flush(code);

    const res = await widgetCall("/widgets/v1/me/timeseries?days=7", await widgetToken("series-user"));
    expect(res.status).toBe(200);
    const { days } = (await res.json()) as { days: { day: string; clicks: number; signups: number }[] };
    expect(days).toHaveLength(7);
    expect(days.at(-1)).toEqual({ day: today(), clicks: 2, signups: 1, conversions: 0 });
    expect(days.slice(0, 6).every((d) => d.clicks === 0 && d.signups === 0)).toBe(true);
    expect(days[0]?.day).toBe(new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10));
  });

  it.each(["0", "366", "abc"])("refuses days=%s with 400", async (days) => {
    const res = await widgetCall(`/widgets/v1/me/timeseries?days=${days}`, await widgetToken("series-user"));
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error?.field).toBe("days");
  });
});

describe("leaderboards", () => {
  it("masks referrers who did not opt in, shows those who did, and includes the caller's rank", async () => {
    const top = await createCode("lb-top", "top");
    const second = await createCode("lb-second", "sec");
    for (let i = 0; i < 3; i++) await attribute({ refereeId: `lb-top-ref-${i}`, code: top });
    for (let i = 0; i < 2; i++) await attribute({ refereeId: `lb-second-ref-${i}`, code: second });
    const optIn = await api(`/api/codes/${second}`, { method: "PATCH", body: { displayName: "Sam S." } });
    expect(optIn.status).toBe(200);

    const res = await widgetCall("/widgets/v1/leaderboard?limit=2", await widgetToken("lb-second"));
    expect(res.status).toBe(200);
    const board = (await res.json()) as { entries: Json[]; you: Json };
    expect(board.entries).toEqual([
      { rank: 1, name: "Anonymous referrer", signups: 3, conversions: 0, isYou: false },
      { rank: 2, name: "Sam S.", signups: 2, conversions: 0, isYou: true },
    ]);
    expect(board.you).toEqual({ rank: 2, signups: 2, conversions: 0 });
    expect(JSON.stringify(board)).not.toContain("lb-top");

    const operator = (await (await api("/api/leaderboard?limit=2")).json()) as { entries: Json[] };
    expect(operator.entries[0]).toMatchObject({ rank: 1, userId: "lb-top", code: top, name: null });

    // Opting out masks again.
    await api(`/api/codes/${second}`, { method: "PATCH", body: { displayName: null } });
    const masked = (await (
      await widgetCall("/widgets/v1/leaderboard?limit=2", await widgetToken("lb-top"))
    ).json()) as { entries: Json[] };
    expect(masked.entries[1]?.name).toBe("Anonymous referrer");
  });
});

describe("GET /api/stats", () => {
  it("adds up the program from daily aggregates, with rates and revenue", async () => {
    const code = await createCode("stats-owner", "stat");
    await click(code, { ip: "198.18.2.1" });
    await click(code, { ip: "198.18.2.1" });
    await click(code, { method: "HEAD" });
    // Every counter, not only this code's: unflushed clicks of other codes would count too.
    await flushAll();
    await attribute({ refereeId: "stats-ref", code });

    const res = await api(`/api/stats?from=${today()}&to=${today()}`);
    expect(res.status).toBe(200);
    const stats = (await res.json()) as Json & { rewards: Json; revenue: Json[] };
    const totals = await env.DB.prepare(
      "SELECT sum(clicks) AS clicks, sum(unique_clicks) AS u, sum(bot_clicks) AS b, sum(signups) AS s FROM program_daily WHERE day = ?",
    )
      .bind(today())
      .first<{ clicks: number; u: number; b: number; s: number }>();
    expect(stats).toMatchObject({
      from: today(),
      to: today(),
      clicks: totals?.clicks,
      uniqueClicks: totals?.u,
      botClicks: totals?.b,
      signups: totals?.s,
    });
    const granted = await env.DB.prepare("SELECT count(*) AS n FROM rewards WHERE amount > 0").first<{ n: number }>();
    expect(stats.rewards).toMatchObject({ granted: granted?.n, redeemed: 0 });
    expect(Array.isArray(stats.topReferrers)).toBe(true);
  });

  it("defaults to the last 30 days and refuses bad ranges", async () => {
    const res = await api("/api/stats");
    const body = (await res.json()) as { from: string; to: string };
    expect(body.to).toBe(today());
    expect((Date.parse(body.to) - Date.parse(body.from)) / 86_400_000).toBe(29);
    for (const query of [
      "from=2026-11-30&to=2026-11-01",
      "from=2020-01-01&to=2026-01-01",
      "from=yesterday",
      "to=2026-13-45",
    ]) {
      expect((await api(`/api/stats?${query}`)).status).toBe(400);
    }
  });
});
