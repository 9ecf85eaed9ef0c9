import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ClickInput } from "../../src/domain/clicks";
import {
  API_KEY,
  call,
  click,
  counter,
  countRows,
  createCode,
  type Json,
  readSetCookie,
  widgetToken,
  withinOneRateWindow,
} from "../helpers";
import { deliver } from "../stripe/fixtures";

const tight = (binding: "API_LIMITER" | "ATTRIBUTION_LIMITER" | "WIDGET_LIMITER"): Env => ({
  ...env,
  [binding]: env[`TIGHT_${binding}`],
});
const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

describe("rate limits", () => {
  it("still redirects a visitor over the click limit with its cookie, but neither counts nor writes the click", async () => {
    const code = await createCode("limited-owner", "lim");
    await withinOneRateWindow();
    const statuses: number[] = [];
    let cookies = 0;
    for (let i = 0; i < 63; i++) {
      const res = await click(code, { ip: "100.80.0.1" });
      statuses.push(res.status);
      if (readSetCookie(res, "ref_token")) cookies++;
    }
    expect(statuses.every((status) => status === 302)).toBe(true);
    // The answer never waits for the counter, so it cannot know the budget: the cookie credits a signup, not a click.
    expect(cookies).toBe(63);
    expect(await counter(code).counters(code)).toEqual({ clicks: 60, uniqueClicks: 1, botClicks: 0 });
    expect(await counter(code).pendingClicks(code)).toBe(60);
    // Another visitor is not affected.
    await click(code, { ip: "100.80.0.2" });
    expect(await counter(code).counters(code)).toEqual({ clicks: 61, uniqueClicks: 2, botClicks: 0 });
  }, 60_000);

  it("limits clicks per client address, so rotating the user agent buys no extra budget", async () => {
    const code = await createCode("rotating-owner", "rot");
    await withinOneRateWindow();
    for (let i = 0; i < 70; i++) {
      const userAgent = `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0.${i}.0 Safari/537.36`;
      const res = await click(code, { ip: "100.80.1.1", userAgent });
      expect(res.status).toBe(302);
    }
    // Each agent is a visitor of its own (uniques stay per visitor), but only the budget is counted.
    expect(await counter(code).counters(code)).toEqual({ clicks: 60, uniqueClicks: 60, botClicks: 0 });
  }, 60_000);

  it("limits an IPv6 client by its /64, whichever address of it the click comes from", async () => {
    const code = await createCode("ipv6-owner", "six");
    await withinOneRateWindow();
    for (let i = 0; i < 63; i++) await click(code, { ip: `2001:db8:80:1::${(i + 1).toString(16)}` });
    expect(await counter(code).counters(code)).toMatchObject({ clicks: 60 });
    // The next /64 is another client.
    await click(code, { ip: "2001:db8:80:2::1" });
    expect(await counter(code).counters(code)).toMatchObject({ clicks: 61 });
  }, 60_000);

  it("judges the budget by each click's own minute in the counter, and spends none on a retried delivery", async () => {
    const code = await createCode("budget-owner", "bud");
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const clickAt = (i: number, at: number): ClickInput => ({
      code,
      shard: 0,
      clickId: `budget-${i}`,
      at,
      visitorHash: "b".repeat(32),
      bot: false,
      country: null,
      referrerHost: null,
      agentFamily: "chrome",
      client: "budget-client",
    });
    const first = Array.from({ length: 60 }, (_, i) => clickAt(i, minute + i));
    await counter(code).recordClicks(first);
    // The same 60 delivered again (a lost answer): skipped by id, and the budget is not spent twice.
    await counter(code).recordClicks(first);
    await counter(code).recordClicks([clickAt(60, minute + 59_000), clickAt(61, minute + 60_000)]);

    expect(await counter(code).counters(code)).toEqual({ clicks: 61, uniqueClicks: 1, botClicks: 0 });
    expect(await counter(code).pendingClicks(code)).toBe(61);
  });

  it("answers 429 with Retry-After over the API limit, and stores nothing", async () => {
    const bindings = tight("API_LIMITER");
    await withinOneRateWindow();
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await call("/api/codes", json({ userId: `limited-api-${i}` }), bindings));
    expect(results.map((res) => res.status)).toEqual([201, 201, 201, 429, 429]);
    const refused = results[3] as Response;
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(((await refused.json()) as Json).error?.code).toBe("rate_limited");
    expect(await countRows("SELECT count(*) AS n FROM referral_codes WHERE user_id LIKE 'limited-api-%'")).toBe(3);
  }, 60_000);

  it("limits attributions per API key on top of the API limit", async () => {
    const code = await createCode("limited-attr-owner", "lat");
    const bindings = tight("ATTRIBUTION_LIMITER");
    await withinOneRateWindow();
    const statuses = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await call("/api/attributions", json({ refereeId: `lat-${i}`, code }), bindings)).status);
    expect(statuses).toEqual([201, 201, 201, 429]);
    expect(
      (await call("/api/codes/DEVO-NONE0000", { headers: { authorization: `Bearer ${API_KEY}` } }, bindings)).status,
    ).toBe(404);
  }, 60_000);

  it("limits widget calls per token", async () => {
    await createCode("limited-widget", "lwid");
    const token = await widgetToken("limited-widget");
    const bindings = tight("WIDGET_LIMITER");
    await withinOneRateWindow();
    const statuses = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await call("/widgets/v1/me", { headers: { authorization: `Bearer ${token}` } }, bindings)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  }, 60_000);

  it("counts embed loads against the same token budget, and answers an HTML 429 with Retry-After", async () => {
    await createCode("limited-embed", "lemb");
    const token = await widgetToken("limited-embed");
    const bindings = tight("WIDGET_LIMITER");
    await withinOneRateWindow();
    const statuses = [];
    for (let i = 0; i < 2; i++)
      statuses.push((await call("/widgets/v1/me", { headers: { authorization: `Bearer ${token}` } }, bindings)).status);
    const embed = () => call(`/widgets/v1/embed?token=${encodeURIComponent(token)}`, {}, bindings);
    statuses.push((await embed()).status);
    const refused = await embed();
    expect([...statuses, refused.status]).toEqual([200, 200, 200, 429]);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(refused.headers.get("content-type")).toContain("text/html");
    expect(await refused.text()).toContain("loaded too often");
    const refusedApi = await call("/widgets/v1/me", { headers: { authorization: `Bearer ${token}` } }, bindings);
    expect(refusedApi.status).toBe(429);
    expect(refusedApi.headers.get("retry-after")).toBe("60");
    expect(((await refusedApi.json()) as Json).error?.code).toBe("rate_limited");
  }, 60_000);
});

describe("request bodies", () => {
  it("refuses an API body over 16 KB with 413, before reading it", async () => {
    const res = await call("/api/codes", json({ userId: "big-body", name: "x".repeat(20_000) }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as Json).error?.code).toBe("payload_too_large");
    expect(await countRows("SELECT count(*) AS n FROM referral_codes WHERE user_id = 'big-body'")).toBe(0);
  });

  it("refuses a Stripe body over 512 KB with 413", async () => {
    const res = await deliver(JSON.stringify({ id: "evt_big", type: "invoice.paid", padding: "x".repeat(600_000) }));
    expect(res.status).toBe(413);
  });

  it.each(["text/plain", "application/x-www-form-urlencoded", ""])(
    "refuses a body sent as %j with 415",
    async (type) => {
      const res = await call("/api/codes", {
        method: "POST",
        headers: { authorization: `Bearer ${API_KEY}`, ...(type ? { "content-type": type } : {}) },
        body: JSON.stringify({ userId: "wrong-type" }),
      });
      expect(res.status).toBe(415);
      expect(((await res.json()) as Json).error?.code).toBe("unsupported_media_type");
      expect(await countRows("SELECT count(*) AS n FROM referral_codes WHERE user_id = 'wrong-type'")).toBe(0);
    },
  );

  it("accepts JSON with a charset, and a POST without a body", async () => {
    expect(
      (
        await call(
          "/api/codes",
          json({ userId: "charset-user" }, { "content-type": "application/json; charset=utf-8" }),
        )
      ).status,
    ).toBe(201);
    const redeem = await call(`/api/rewards/${crypto.randomUUID()}/redeem`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(redeem.status).toBe(404);
  });
});

describe("security headers", () => {
  it("puts CSP, frame-ancestors, nosniff and a referrer policy on every HTML response", async () => {
    await createCode("headers-user", "hdr");
    const pages = [
      await call(`/widgets/v1/embed?token=${await widgetToken("headers-user")}`),
      await call("/widgets/v1/embed?token=bad"),
      await call("/docs"),
    ];
    for (const res of pages) {
      expect(res.headers.get("content-type")).toContain("text/html");
      expect(res.headers.get("content-security-policy")).toMatch(/default-src 'none'.*frame-ancestors /);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    }
  });

  it("marks JSON answers nosniff too", async () => {
    const res = await call("/api/codes/DEVO-NONE0000", { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  });
});
