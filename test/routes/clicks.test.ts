import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ClickInput } from "../../src/domain/clicks";
import { utcDay } from "../../src/domain/visitor";
import { type LoggedClick, streamDay, writeFlushToLog } from "../../src/services/click-log";
import { login, page } from "../admin/console";
import { api, call, click, counter, createCode, flush } from "../helpers";

const today = () => utcDay(Date.now());

function lines(body: string): LoggedClick[] {
  return body
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as LoggedClick);
}

let sequence = 0;
function clickInput(code: string, at = Date.now()): ClickInput {
  sequence++;
  return {
    code,
    shard: 0,
    clickId: crypto.randomUUID(),
    at,
    visitorHash: `api-visitor-${sequence}`,
    bot: false,
    country: "DE",
    referrerHost: null,
    agentFamily: "firefox",
  };
}

describe("GET /api/clicks", () => {
  it("streams a day's clicks as NDJSON, every flush of it, and filters by code while streaming", async () => {
    const a = await createCode("log-api-a", "lga");
    const b = await createCode("log-api-b", "lgb");
    // Three flushes of a (three objects), one of b.
    for (let round = 0; round < 3; round++) {
      await counter(a).recordClicks([clickInput(a), clickInput(a)]);
      await flush(a);
    }
    await click(b, { ip: "10.50.0.1" });
    await flush(b);

    const all = await api(`/api/clicks?day=${today()}`);
    expect(all.status).toBe(200);
    expect(all.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    expect(all.headers.get("cache-control")).toBe("no-store");
    const every = lines(await all.text());
    expect(every.filter((c) => c.code === a)).toHaveLength(6);
    expect(every.filter((c) => c.code === b)).toHaveLength(1);

    const onlyA = await api(`/api/clicks?day=${today()}&code=${a.toLowerCase()}`);
    expect(onlyA.status).toBe(200);
    const clicks = lines(await onlyA.text());
    expect(clicks).toHaveLength(6);
    expect(clicks.every((c) => c.code === a)).toBe(true);
    expect(clicks[0]).toEqual({
      id: expect.any(String),
      code: a,
      clickedAt: expect.any(Number),
      visitorHash: expect.stringMatching(/^api-visitor-/),
      isBot: false,
      isUnique: true,
      country: "DE",
      referrerHost: null,
      agentFamily: "firefox",
    });
  });

  it("answers an empty body for a day without clicks, and a past day from its own prefix", async () => {
    const empty = await api("/api/clicks?day=2001-01-01");
    expect(empty.status).toBe(200);
    expect(await empty.text()).toBe("");

    const code = await createCode("log-api-past", "lgp");
    // A past day well inside the retention, so no other test's cron run deletes it.
    const day = utcDay(Date.now() - 5 * 86_400_000);
    const at = Date.parse(`${day}T08:30:00Z`);
    await writeFlushToLog(env.CLICK_LOG, "past-flush", [
      { ...row(code, at), id: "past-1" },
      { ...row(code, at + 60_000), id: "past-2" },
    ]);
    const res = await api(`/api/clicks?day=${day}&code=${code}`);
    expect(res.status).toBe(200);
    expect(lines(await res.text()).map((c) => c.id)).toEqual(["past-1", "past-2"]);
    const dayAfter = utcDay(at + 86_400_000);
    expect(await (await api(`/api/clicks?day=${dayAfter}&code=${code}`)).text()).toBe("");
  });

  it("refuses a bad day or code with 400, and a missing key with 401", async () => {
    for (const [query, field] of [
      ["day=2026-02-30", "day"],
      ["day=yesterday", "day"],
      ["", "day"],
      [`day=${today()}&code=not a code`, "code"],
    ] as const) {
      const res = await api(`/api/clicks?${query}`);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; field?: string } };
      expect(body.error.code).toBe("invalid_request");
      expect(body.error.field).toBe(field);
    }
    const anonymous = await call(`/api/clicks?day=${today()}`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  it("answers 503 with the error shape when R2 cannot be listed", async () => {
    const down = { list: () => Promise.reject(new Error("R2 unavailable")) } as unknown as R2Bucket;
    const res = await call(
      `/api/clicks?day=${today()}`,
      { headers: { authorization: "Bearer test-api-key-0123456789" } },
      { ...env, CLICK_LOG: down },
    );
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      error: { code: "click_log_unavailable", message: "The click log could not be read; try again" },
    });
  });

  it("is linked from the console's referrer page, where the operator's session opens it", async () => {
    const code = await createCode("log-console-owner", "lgc");
    await click(code, { ip: "10.51.0.1" });
    await flush(code);
    const session = await login();

    const html = await (await page(session, "/admin/referrers/log-console-owner")).text();
    const href = `/admin/clicks?day=${today()}&amp;code=${code}`;
    expect(html).toContain(`href="${href}"`);

    const res = await page(session, `/admin/clicks?day=${today()}&code=${code}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    expect(lines(await res.text()).map((c) => c.code)).toEqual([code]);
    expect((await page(null, `/admin/clicks?day=${today()}&code=${code}`)).status).not.toBe(200);
  });
});

function row(code: string, at: number) {
  return {
    id: "",
    code,
    clickedAt: at,
    visitorHash: "0123456789abcdef0123456789abcdef",
    isBot: false,
    isUnique: true,
    country: null,
    referrerHost: null,
    agentFamily: "safari",
  };
}

describe("streamDay", () => {
  it("walks every page of the listing, one object at a time as the reader pulls", async () => {
    const code = await createCode("log-pages", "lgpg");
    const day = utcDay(Date.now() - 6 * 86_400_000);
    const at = Date.parse(`${day}T12:00:00Z`);
    for (let i = 0; i < 5; i++) await writeFlushToLog(env.CLICK_LOG, `paged-${i}`, [{ ...row(code, at), id: `p${i}` }]);
    let gets = 0;
    // Two keys per listing page, counting reads.
    const paged = {
      list: async (options: R2ListOptions) => {
        const page = await env.CLICK_LOG.list({ ...options, limit: 2 });
        return page;
      },
      get: (key: string) => {
        gets++;
        return env.CLICK_LOG.get(key);
      },
    } as unknown as R2Bucket;

    const reader = (await streamDay(paged, day, code)).getReader();
    const first = await reader.read();
    expect(gets).toBe(1);
    expect(lines(new TextDecoder().decode(first.value))).toHaveLength(1);
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(gets).toBe(5);
    expect(lines(text).map((c) => c.id)).toEqual(["p0", "p1", "p2", "p3", "p4"]);
  });
});
