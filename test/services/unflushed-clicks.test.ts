import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { createDb } from "../../src/db/client";
import type { ClickInput } from "../../src/domain/clicks";
import { type CodeCounter, counterName } from "../../src/durable-objects/code-counter";
import { programStats, userTimeseries } from "../../src/services/widgets";
import { testBindings } from "../bindings";
import { api, click, counter, countRows, createCode, flush, widgetCall, widgetToken } from "../helpers";

const config = parseConfig(testBindings);
const today = () => new Date().toISOString().slice(0, 10);

type Figures = { counters: number; series: number; stats: { clicks: number; uniqueClicks: number; botClicks: number } };

/** What every read shows for a code and the program today: its live counters, its time series and /api/stats. */
async function readAll(code: string, userId: string): Promise<Figures & { unique: number; bots: number }> {
  const live = (await (await api(`/api/codes/${code}`)).json()) as {
    stats: { clicks: number; uniqueClicks: number; botClicks: number };
  };
  const token = await widgetToken(userId);
  const series = (await (await widgetCall("/widgets/v1/me/timeseries?days=7", token)).json()) as {
    days: { day: string; clicks: number }[];
  };
  const stats = (await (await api(`/api/stats?from=${today()}&to=${today()}`)).json()) as Figures["stats"];
  return {
    counters: live.stats.clicks,
    unique: live.stats.uniqueClicks,
    bots: live.stats.botClicks,
    series: series.days.find((d) => d.day === today())?.clicks ?? -1,
    stats,
  };
}

let visitor = 0;
function clickInput(code: string): ClickInput {
  visitor++;
  return {
    code,
    shard: 0,
    clickId: crypto.randomUUID(),
    at: Date.now(),
    visitorHash: `agree-visitor-${visitor}`,
    bot: false,
    country: "NL",
    referrerHost: null,
    agentFamily: "chrome",
  };
}

/**
 * The counter namespace as the reads see it, except that right after a
 * counter answers, `between` runs: what happens between the counter read and
 * the D1 read, made to happen every time.
 */
function countersWith(between: (name: string) => Promise<void>): DurableObjectNamespace<CodeCounter> {
  return {
    getByName: (name: string) => ({
      unflushedClicks: async (code: string | null, from: string, to: string) => {
        const answer = await env.CODE_COUNTER.getByName(name).unflushedClicks(code, from, to);
        await between(name);
        return answer;
      },
    }),
  } as unknown as DurableObjectNamespace<CodeCounter>;
}

/** The code's clicks today in its time series and in the program's totals, read through `counters`. */
async function serviceReads(userId: string, counters: DurableObjectNamespace<CodeCounter>) {
  const deps = { db: createDb(env.DB), config, counters };
  const series = await userTimeseries(deps, userId, 7, Date.now());
  const stats = await programStats(deps, today(), today());
  return { series: series.days.at(-1)?.clicks, stats: stats.clicks };
}

// This file's storage is its own: the program's totals are what its tests click, one test after the other.
describe("reads agree before and after the flush", () => {
  it("shows a click in the counters, the time series and /api/stats at once, and the same after the flush", async () => {
    const code = await createCode("agree-alice", "agre");
    await click(code, { ip: "198.18.40.1" });
    await click(code, { ip: "198.18.40.1" });
    await click(code, { ip: "198.18.40.2" });
    await click(code, { method: "HEAD" });
    expect(await counter(code).pendingClicks(code)).toBe(4);
    expect(await countRows("SELECT count(*) AS n FROM code_daily WHERE code = ?", code)).toBe(0);

    const before = await readAll(code, "agree-alice");
    expect(before).toEqual({
      counters: 3,
      unique: 2,
      bots: 1,
      series: 3,
      stats: expect.objectContaining({ clicks: 3, uniqueClicks: 2, botClicks: 1 }),
    });

    await flush(code);
    expect(await counter(code).pendingClicks(code)).toBe(0);
    expect(await countRows("SELECT clicks AS n FROM code_daily WHERE code = ?", code)).toBe(3);
    expect(await readAll(code, "agree-alice")).toEqual(before);
  });

  it("counts once the clicks of a flush that lands between the counter read and the D1 read", async () => {
    const code = await createCode("agree-bob", "agrb");
    const userId = "agree-bob";
    const stub = counter(code);
    // 1,234 clicks: three flushes of up to 500, so the read sees batches that later flushes will take.
    for (let i = 0; i < 1_234; i += 100) {
      await stub.recordClicks(Array.from({ length: Math.min(100, 1_234 - i) }, () => clickInput(code)));
    }
    const program = (await serviceReads(userId, env.CODE_COUNTER)).stats;
    expect(await serviceReads(userId, env.CODE_COUNTER)).toEqual({ series: 1_234, stats: program });

    // One flush lands between the two reads of each call: every one sees the same figures.
    const name = counterName(code, 0);
    const oneFlush = countersWith(async (asked) => {
      if (asked === name) await runDurableObjectAlarm(env.CODE_COUNTER.getByName(name));
    });
    for (let flushed = 1; (await stub.pendingClicks(code)) > 0; flushed++) {
      expect(flushed).toBeLessThanOrEqual(6);
      expect(await serviceReads(userId, oneFlush)).toEqual({ series: 1_234, stats: program });
    }
    expect(await countRows("SELECT clicks AS n FROM code_daily WHERE code = ?", code)).toBe(1_234);
    expect(await serviceReads(userId, env.CODE_COUNTER)).toEqual({ series: 1_234, stats: program });
  });

  it("counts once a flush that landed in D1 while its counter still waits for the answer", async () => {
    const code = await createCode("agree-carol", "agrc");
    const userId = "agree-carol";
    const stub = counter(code);
    await stub.recordClicks(Array.from({ length: 7 }, () => clickInput(code)));
    const expected = await serviceReads(userId, env.CODE_COUNTER);
    expect(expected.series).toBe(7);

    // D1 commits the flush, then goes down: the answer and the check after it are lost.
    await runInDurableObject(stub, (instance: CodeCounter) => {
      let down = false;
      const faulty = {
        prepare: (query: string) => {
          if (down) throw new Error("D1 unavailable");
          return env.DB.prepare(query);
        },
        batch: async (statements: D1PreparedStatement[]) => {
          if (!down) await env.DB.batch(statements);
          down = true;
          throw new Error("D1 unavailable");
        },
      };
      (instance as unknown as { env: Env }).env = { ...env, DB: faulty as unknown as D1Database };
    });
    try {
      await runDurableObjectAlarm(stub);
    } finally {
      await runInDurableObject(stub, (instance: CodeCounter) => {
        (instance as unknown as { env: Env }).env = env;
      });
    }
    // In D1, and still in the counter's buffer.
    expect(await countRows("SELECT clicks AS n FROM code_daily WHERE code = ?", code)).toBe(7);
    expect(await stub.pendingClicks(code)).toBe(7);
    expect(await serviceReads(userId, env.CODE_COUNTER)).toEqual(expected);

    await flush(code);
    expect(await stub.pendingClicks(code)).toBe(0);
    expect(await serviceReads(userId, env.CODE_COUNTER)).toEqual(expected);
  });
});

const holding = async (name: string) =>
  (await env.DB.prepare("SELECT holding FROM click_counters WHERE counter = ?").bind(name).first<{ holding: number }>())
    ?.holding;

/** The counter namespace as the reads see it, recording which counters they ask. */
function askedLog(asked: string[]): DurableObjectNamespace<CodeCounter> {
  return {
    getByName: (name: string) => ({
      unflushedClicks: (code: string | null, from: string, to: string) => {
        asked.push(name);
        return env.CODE_COUNTER.getByName(name).unflushedClicks(code, from, to);
      },
    }),
  } as unknown as DurableObjectNamespace<CodeCounter>;
}

describe("program-wide reads ask only the counters holding clicks", () => {
  it("lists a counter as holding before it acknowledges a click, and clears it in the flush that drains it", async () => {
    const code = await createCode("hold-dana", "hold");
    const name = counterName(code, 0);
    const stub = counter(code);
    await stub.recordClicks([clickInput(code)]);
    await flush(code);
    expect(await holding(name)).toBe(0);

    await stub.recordClicks([clickInput(code)]);
    // The answer came after D1 knew: a read that starts now asks this counter.
    expect(await holding(name)).toBe(1);
    const asked: string[] = [];
    const before = await programStats({ db: createDb(env.DB), config, counters: askedLog(asked) }, today(), today());
    expect(asked).toContain(name);

    await flush(code);
    expect(await holding(name)).toBe(0);
    asked.length = 0;
    const after = await programStats({ db: createDb(env.DB), config, counters: askedLog(asked) }, today(), today());
    expect(asked).not.toContain(name);
    expect(after.clicks).toBe(before.clicks);
  });

  it("keeps the flag while a batch remains after a flush, and for a click counted during the flush", async () => {
    const code = await createCode("hold-eli", "hole");
    const name = counterName(code, 0);
    const stub = counter(code);
    // 600 clicks in one call, so that the flush is the one this test runs: it
    // takes 500 and leaves 100, so the flag stays.
    await stub.recordClicks(Array.from({ length: 600 }, () => clickInput(code)));
    await runDurableObjectAlarm(stub);
    expect(await stub.pendingClicks(code)).toBe(100);
    expect(await holding(name)).toBe(1);

    // The flush that drains the rest has a click counted while its batch is on the way to D1.
    let during: Promise<unknown> = Promise.resolve();
    await runInDurableObject(stub, (instance: CodeCounter) => {
      const slow = {
        prepare: (query: string) => env.DB.prepare(query),
        batch: (statements: D1PreparedStatement[]) => {
          (instance as unknown as { env: Env }).env = env;
          during = instance.recordClicks([clickInput(code)]);
          return env.DB.batch(statements);
        },
      };
      (instance as unknown as { env: Env }).env = { ...env, DB: slow as unknown as D1Database };
    });
    await runDurableObjectAlarm(stub);
    await during;
    expect(await stub.pendingClicks(code)).toBe(1);
    // The drain's 0 landed first, the click's 1 after it.
    expect(await holding(name)).toBe(1);
    const asked: string[] = [];
    const stats = await programStats({ db: createDb(env.DB), config, counters: askedLog(asked) }, today(), today());
    expect(asked).toContain(name);
    const live = (await (await api(`/api/codes/${code}`)).json()) as { stats: { clicks: number } };
    expect(live.stats.clicks).toBe(601);
    expect(stats.clicks).toBeGreaterThanOrEqual(601);

    await flush(code);
    expect(await holding(name)).toBe(0);
  });

  it("clears the flag of a counter asked while it holds nothing", async () => {
    const code = await createCode("hold-fay", "holf");
    const name = counterName(code, 0);
    await env.DB.prepare("UPDATE click_counters SET holding = 1 WHERE counter = ?").bind(name).run();
    await counter(code).unflushedClicks(null, today(), today());
    // The write goes from the counter in the background: wait until it lands.
    // Bounded by count, not by a deadline: a busy machine only makes it take longer.
    for (let i = 0; i < 1_000 && (await holding(name)) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await holding(name)).toBe(0);
  });
});
