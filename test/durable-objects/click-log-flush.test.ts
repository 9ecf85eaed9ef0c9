import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ClickInput } from "../../src/domain/clicks";
import { utcDay } from "../../src/domain/visitor";
import type { CodeCounter } from "../../src/durable-objects/code-counter";
import { dayPrefix } from "../../src/services/click-log";
import { logOf } from "../click-log";
import { click, counter, countRows, createCode, flush } from "../helpers";

let sequence = 0;
function clickInput(code: string, overrides: Partial<ClickInput> = {}): ClickInput {
  sequence++;
  return {
    code,
    shard: 0,
    clickId: crypto.randomUUID(),
    at: Date.now(),
    visitorHash: `log-visitor-${sequence}`,
    bot: false,
    country: "NL",
    referrerHost: "news.example.org",
    agentFamily: "chrome",
    ...overrides,
  };
}

/** Gives the code's counter other bindings while `run` runs. */
async function withBindings(code: string, bindings: Partial<Env>, run: () => Promise<void>) {
  const stub = counter(code);
  await runInDurableObject(stub, (instance: CodeCounter) => {
    (instance as unknown as { env: Env }).env = { ...env, ...bindings };
  });
  try {
    await run();
  } finally {
    await runInDurableObject(stub, (instance: CodeCounter) => {
      (instance as unknown as { env: Env }).env = env;
    });
  }
}

/** A D1 binding through which nothing commits. */
const downD1 = {
  prepare: () => {
    throw new Error("D1 unavailable");
  },
  batch: () => Promise.reject(new Error("D1 unavailable")),
} as unknown as D1Database;

/** An R2 binding that refuses every write. */
const downR2 = {
  put: () => Promise.reject(new Error("R2 unavailable")),
} as unknown as R2Bucket;

/** Moves a failed flush's retry an hour out, so the test runs it when it chooses (see code-counter.test.ts). */
async function postponeRetry(code: string): Promise<void> {
  await runInDurableObject(counter(code), async (_instance: CodeCounter, state) => {
    expect(await state.storage.getAlarm()).not.toBeNull();
    await state.storage.setAlarm(Date.now() + 3_600_000);
  });
}

const today = () => dayPrefix(utcDay(Date.now()));

describe("the click log in R2", () => {
  it("lands a flush in R2 and D1 together: one gzip NDJSON object named by the flush id", async () => {
    const code = await createCode("log-owner", "log");
    for (let i = 0; i < 7; i++) await click(code, { ip: `10.40.0.${i % 5}`, headers: { referer: "https://t.co/x" } });
    await click(code, { userAgent: "Twitterbot/1.0" });

    expect(await runDurableObjectAlarm(counter(code))).toBe(true);

    const objects = await logOf(code, today());
    expect(objects).toHaveLength(1);
    const [object] = objects;
    const hour = new Date().toISOString().slice(11, 13);
    expect(object?.key).toMatch(
      new RegExp(`^clicks/day=${utcDay(Date.now())}/hour=${hour}/[0-9a-f-]{36}\\.ndjson\\.gz$`),
    );
    const flushId = object?.key.split("/").at(-1)?.replace(".ndjson.gz", "");
    const { results } = await env.DB.prepare("SELECT counter FROM click_flushes WHERE id = ?").bind(flushId).all();
    expect(results).toHaveLength(1);

    const clicks = object?.clicks ?? [];
    expect(clicks).toHaveLength(8);
    expect(clicks.filter((c) => !c.isBot)).toHaveLength(7);
    expect(clicks.filter((c) => !c.isBot && c.isUnique)).toHaveLength(5);
    expect(clicks.find((c) => !c.isBot)).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      code,
      clickedAt: expect.any(Number),
      visitorHash: expect.stringMatching(/^[0-9a-f]{32}$/),
      isBot: false,
      isUnique: expect.any(Boolean),
      country: null,
      referrerHost: "t.co",
      agentFamily: "chrome",
    });
    expect(new Set(clicks.map((c) => c.id)).size).toBe(8);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(7);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(8);
  });

  it("writes one object per UTC hour a flush's clicks fall in, all named by that flush", async () => {
    const code = await createCode("hours-owner", "hrs");
    const hourAgo = Date.now() - 3_600_000;
    await counter(code).recordClicks([
      clickInput(code, { at: hourAgo }),
      clickInput(code, { at: hourAgo }),
      clickInput(code),
    ]);
    await flush(code);

    const objects = [
      ...(await logOf(code, dayPrefix(utcDay(hourAgo)))),
      ...(utcDay(hourAgo) === utcDay(Date.now()) ? [] : await logOf(code, today())),
    ];
    expect(objects.map((o) => o.clicks.length).sort()).toEqual([1, 2]);
    const names = new Set(objects.map((o) => o.key.split("/").at(-1)));
    expect(names.size).toBe(1);
    expect(await countRows("SELECT sum(clicks) AS n FROM code_daily WHERE code = ?", code)).toBe(3);
  });

  it("leaves one object and one set of increments when a flush fails after its R2 write and is retried", async () => {
    const code = await createCode("r2-then-d1-owner", "rtd");
    for (let i = 0; i < 9; i++) await click(code, { ip: `10.41.0.${i}` });

    await withBindings(code, { DB: downD1 }, async () => {
      await runDurableObjectAlarm(counter(code));
      await postponeRetry(code);
    });
    // In R2 already, in D1 not yet, and still buffered for the retry.
    const written = await logOf(code, today());
    expect(written).toHaveLength(1);
    expect(written[0]?.clicks).toHaveLength(9);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(0);
    expect(await counter(code).pendingClicks(code)).toBe(9);

    await flush(code);

    const after = await logOf(code, today());
    expect(after.map((o) => o.key)).toEqual(written.map((o) => o.key));
    expect(after[0]?.clicks).toEqual(written[0]?.clicks);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(9);
    expect(await countRows("SELECT sum(clicks) AS n FROM code_daily WHERE code = ?", code)).toBe(9);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(9);
    expect(await counter(code).pendingClicks(code)).toBe(0);
  });

  it("leaves D1 untouched and keeps the clicks when the R2 write fails, then lands both", async () => {
    const code = await createCode("r2-down-owner", "r2dn");
    for (let i = 0; i < 4; i++) await click(code, { ip: `10.42.0.${i}` });

    await withBindings(code, { CLICK_LOG: downR2 }, async () => {
      await runDurableObjectAlarm(counter(code));
      await postponeRetry(code);
    });
    expect(await logOf(code, today())).toHaveLength(0);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(0);
    expect(await counter(code).pendingClicks(code)).toBe(4);

    await flush(code);
    const objects = await logOf(code, today());
    expect(objects).toHaveLength(1);
    expect(objects[0]?.clicks).toHaveLength(4);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(4);
  });

  it("purges its code's rows past D1's hot window in each flush, twice as many as it adds, so the window keeps pace", async () => {
    const code = await createCode("purge-owner", "prg");
    const other = await createCode("purge-other", "prgo");
    const day = 86_400_000;
    const insert = env.DB.prepare(
      "INSERT INTO clicks (id, code, clicked_at, visitor_hash, is_bot, is_unique, agent_family) VALUES (?, ?, ?, 'old', 0, 1, 'chrome')",
    );
    // CLICK_LOG_HOT_DAYS is 2: 250 rows of this code and 5 of another are past it, one of this code is inside.
    await env.DB.batch([
      ...Array.from({ length: 250 }, (_, i) => insert.bind(`old-${i}`, code, Date.now() - 3 * day - i)),
      ...Array.from({ length: 5 }, (_, i) => insert.bind(`other-${i}`, other, Date.now() - 3 * day)),
      insert.bind("inside", code, Date.now() - day),
    ]);
    const past = (c: string) =>
      countRows("SELECT count(*) AS n FROM clicks WHERE code = ? AND clicked_at < ?", c, Date.now() - 2 * day);

    await counter(code).recordClicks(Array.from({ length: 60 }, () => clickInput(code)));
    await flush(code);
    expect(await past(code)).toBe(250 - 120);

    // A small flush still clears at least 100.
    await counter(code).recordClicks([clickInput(code)]);
    await flush(code);
    expect(await past(code)).toBe(30);
    expect(await past(other)).toBe(5);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE id = 'inside'")).toBe(1);
    expect(
      await countRows("SELECT count(*) AS n FROM clicks WHERE code = ? AND clicked_at >= ?", code, Date.now() - 60_000),
    ).toBe(61);
  });

  it("keeps no click rows in D1 with CLICK_LOG_HOT_DAYS=0, and the same counters and aggregates", async () => {
    const code = await createCode("cold-owner", "cold");
    await counter(code).recordClicks([clickInput(code), clickInput(code), clickInput(code, { bot: true })]);

    await withBindings(code, { CLICK_LOG_HOT_DAYS: "0" }, () => flush(code));

    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(0);
    expect(
      await env.DB.prepare(
        "SELECT clicks, unique_clicks AS uniqueClicks, bot_clicks AS botClicks FROM referral_codes WHERE code = ?",
      )
        .bind(code)
        .first(),
    ).toEqual({ clicks: 2, uniqueClicks: 2, botClicks: 1 });
    expect(await countRows("SELECT sum(clicks) AS n FROM code_daily WHERE code = ?", code)).toBe(2);
    expect((await logOf(code, today()))[0]?.clicks).toHaveLength(3);
  });

  it("counts a replayed click once past D1's hot window: its first delivery is found in the R2 log", async () => {
    const code = await createCode("cold-replay-owner", "crpl");
    const stub = counter(code);
    const flushed = clickInput(code, { at: Date.now() - 5_000 });
    const lost = clickInput(code, { at: Date.now() - 5_000 });

    await withBindings(code, { CLICK_LOG_HOT_DAYS: "0" }, async () => {
      await stub.recordClicks([flushed]);
      await flush(code);
      expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(0);
      // The backlog hands both over: one already counted and logged, one never seen.
      expect(await stub.replayClicks([flushed, lost])).toEqual({ [code]: true });
      await flush(code);
    });

    expect(await stub.counters(code)).toEqual({ clicks: 2, uniqueClicks: 2, botClicks: 0 });
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(2);
    const logged = (await logOf(code, today())).flatMap((o) => o.clicks.map((c) => c.id));
    expect(logged.sort()).toEqual([flushed.clickId, lost.clickId].sort());
  });
});
