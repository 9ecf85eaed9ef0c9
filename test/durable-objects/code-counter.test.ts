import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ClickInput } from "../../src/domain/clicks";
import { shardFor } from "../../src/domain/visitor";
import {
  COUNTER_BUCKETS,
  type CodeCounter,
  counterName,
  readClickCounters,
  UNIQUE_WINDOW_MS,
} from "../../src/durable-objects/code-counter";
import { click, counter, countRows, createCode, flush, registerCode } from "../helpers";

let sequence = 0;
function clickInput(code: string, overrides: Partial<ClickInput> = {}): ClickInput {
  sequence++;
  return {
    code,
    shard: 0,
    clickId: crypto.randomUUID(),
    at: Date.now(),
    visitorHash: `visitor-${sequence}`,
    bot: false,
    country: "NL",
    referrerHost: "news.example.org",
    agentFamily: "chrome",
    ...overrides,
  };
}

/**
 * Swaps the counter's D1 binding for one that is down ("before": nothing
 * commits) or that goes down right after committing a batch, so neither the
 * batch's answer nor any later query gets through ("after-commit").
 */
async function withFaultyD1(code: string, mode: "before" | "after-commit", run: () => Promise<void>) {
  const stub = counter(code);
  await runInDurableObject(stub, (instance: CodeCounter) => {
    const real = env.DB;
    let down = mode === "before";
    const faulty = {
      prepare: (query: string) => {
        if (down) throw new Error("D1 unavailable");
        return real.prepare(query);
      },
      batch: async (statements: D1PreparedStatement[]) => {
        if (!down) await real.batch(statements);
        down = true;
        throw new Error("D1 unavailable");
      },
    };
    (instance as unknown as { env: Env }).env = { ...env, DB: faulty as unknown as D1Database };
  });
  try {
    await run();
  } finally {
    await runInDurableObject(stub, (instance: CodeCounter) => {
      (instance as unknown as { env: Env }).env = env;
    });
  }
}

/**
 * A failed flush arms its retry a second or two away, and the runtime would run
 * it by itself, racing the assertions. Still inside the fault (where a retry
 * that slips in fails again), the retry is moved an hour out: the test sees the
 * state the failure left, and runs the retry when it chooses.
 */
async function postponeRetry(code: string): Promise<void> {
  await runInDurableObject(counter(code), async (_instance: CodeCounter, state) => {
    expect(await state.storage.getAlarm()).not.toBeNull();
    await state.storage.setAlarm(Date.now() + 3_600_000);
  });
}

describe("CodeCounter", () => {
  it("counts a visitor once per hour: again after the window, not before", async () => {
    const code = await createCode("window-owner", "win");
    const stub = counter(code);
    const t0 = Date.UTC(2026, 10, 24, 10, 0, 0);
    const visitorHash = "same-visitor";
    const uniqueAfter = async (at: number) => {
      await stub.recordClicks([clickInput(code, { at, visitorHash })]);
      return (await stub.counters(code)).uniqueClicks;
    };

    expect(await uniqueAfter(t0)).toBe(1);
    expect(await uniqueAfter(t0 + UNIQUE_WINDOW_MS - 1)).toBe(1);
    expect(await uniqueAfter(t0 + UNIQUE_WINDOW_MS)).toBe(2);
    expect(await stub.counters(code)).toEqual({ clicks: 3, uniqueClicks: 2, botClicks: 0 });
  });

  it("keeps the counts of codes that share a counter apart", async () => {
    // The first two fixed codes that hash to one counter (257 candidates, 256 counters: a pair exists),
    // the same pair on every run.
    const byCounter = new Map<string, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair && i <= COUNTER_BUCKETS; i++) {
      const candidate = `DEVO-SHR${String(i).padStart(4, "0")}`;
      const first = byCounter.get(counterName(candidate, 0));
      if (first) pair = [first, candidate];
      else byCounter.set(counterName(candidate, 0), candidate);
    }
    const [a, b] = pair ?? ["", ""];
    expect(counterName(a, 0)).toBe(counterName(b, 0));
    await registerCode(a, "shared-a");
    await registerCode(b, "shared-b");
    const stub = counter(a);
    await stub.recordClicks([clickInput(a), clickInput(a), clickInput(b), clickInput(a, { bot: true })]);
    expect(await stub.counters(a)).toEqual({ clicks: 2, uniqueClicks: 2, botClicks: 1 });
    expect(await stub.counters(b)).toEqual({ clicks: 1, uniqueClicks: 1, botClicks: 0 });
  });

  it("counts a click id once, so a retried delivery changes nothing", async () => {
    const code = await createCode("retry-id-owner", "rid");
    const stub = counter(code);
    const input = clickInput(code);
    await stub.recordClicks([input]);
    await stub.recordClicks([input, input]);
    await stub.recordClicks([{ ...input, visitorHash: "someone-else" }]);
    expect(await stub.counters(code)).toEqual({ clicks: 1, uniqueClicks: 1, botClicks: 0 });
    expect(await stub.pendingClicks(code)).toBe(1);
  });

  it("answers unknown for a code that was never registered, and stores nothing for it", async () => {
    const stub = counter("DEVO-GHST0000");
    expect(await stub.recordClicks([clickInput("DEVO-GHST0000")])).toEqual({ "DEVO-GHST0000": false });
    expect(await stub.counters("DEVO-GHST0000")).toEqual({ clicks: 0, uniqueClicks: 0, botClicks: 0 });
    expect(await stub.pendingClicks("DEVO-GHST0000")).toBe(0);
  });

  it("counts a sharded code exactly: shards learn the code from shard 0, reads sum the shards", async () => {
    const code = await createCode("sharded-owner", "shrd");
    const shards = 4;
    const clicks = Array.from({ length: 400 }, (_, i) => {
      const visitorHash = `${(i % 100).toString(16).padStart(8, "0")}visitor`;
      return clickInput(code, { visitorHash, shard: shardFor(visitorHash, shards) });
    });
    const byShard = new Map<number, ClickInput[]>();
    for (const click of clicks) byShard.set(click.shard, [...(byShard.get(click.shard) ?? []), click]);
    expect(byShard.size).toBe(4);
    await Promise.all([...byShard].map(([shard, group]) => counter(code, shard).recordClicks(group)));

    expect(await readClickCounters(env.CODE_COUNTER, code, shards)).toEqual({
      clicks: 400,
      uniqueClicks: 100,
      botClicks: 0,
    });
    for (const shard of byShard.keys()) await flush(code, shard);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(400);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(400);
  });

  it("counts exactly when two shards of a code share one counter object", async () => {
    const shards = 64;
    const objectsOf = (c: string) => new Set(Array.from({ length: shards }, (_, shard) => counterName(c, shard)));
    // The first fixed code whose 64 shards share objects: the hash is fixed, so it is the same code every run.
    let code = "DEVO-CRWD0000";
    for (let i = 1; i <= COUNTER_BUCKETS && objectsOf(code).size === shards; i++) {
      code = `DEVO-CRWD${String(i).padStart(4, "0")}`;
    }
    expect(objectsOf(code).size).toBeLessThan(shards);
    await registerCode(code, "crowded-owner");
    // Two clicks from each of 64 visitors, one visitor per shard.
    const clicks = Array.from({ length: 128 }, (_, i) => {
      const visitorHash = `${(i % shards).toString(16).padStart(8, "0")}visitor`;
      return clickInput(code, { visitorHash, shard: shardFor(visitorHash, shards) });
    });
    for (const click of clicks) await counter(code, click.shard).recordClicks([click]);

    expect(await readClickCounters(env.CODE_COUNTER, code, shards)).toEqual({
      clicks: 128,
      uniqueClicks: 64,
      botClicks: 0,
    });
    for (let shard = 0; shard < shards; shard++) await flush(code, shard);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(128);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(128);
  });

  it("counts a replayed click once, whether its first delivery is still buffered, already in D1, or never came", async () => {
    const code = await createCode("replay-owner", "rply");
    const stub = counter(code);
    const flushed = clickInput(code);
    const buffered = clickInput(code);
    const lost = clickInput(code);
    await stub.recordClicks([flushed]);
    await flush(code);
    await stub.recordClicks([buffered]);
    expect(await stub.replayClicks([flushed, buffered, lost])).toEqual({ [code]: true });
    expect(await stub.replayClicks([flushed, buffered, lost])).toEqual({ [code]: true });
    expect(await stub.counters(code)).toEqual({ clicks: 3, uniqueClicks: 3, botClicks: 0 });
    await flush(code);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(3);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(3);
    // A click on a code that does not exist stores nothing, as it would have the first time.
    expect(await counter("DEVO-GHST0001").replayClicks([clickInput("DEVO-GHST0001")])).toEqual({
      "DEVO-GHST0001": false,
    });
  });

  it("flushes every click to D1 exactly once, with counters and daily aggregates", async () => {
    const code = await createCode("flush-owner", "flsh");
    // 23 human clicks (3 statements of 11 rows) from 20 visitors, and 2 bots.
    for (let i = 0; i < 23; i++) await click(code, { ip: `10.0.0.${i % 20}` });
    await click(code, { method: "HEAD" });
    await click(code, { userAgent: "Twitterbot/1.0" });

    expect(await runDurableObjectAlarm(counter(code))).toBe(true);

    expect(await counter(code).pendingClicks(code)).toBe(0);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ? AND is_bot = 0", code)).toBe(23);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ? AND is_bot = 1", code)).toBe(2);
    const row = await env.DB.prepare(
      "SELECT clicks, unique_clicks AS uniqueClicks, bot_clicks AS botClicks FROM referral_codes WHERE code = ?",
    )
      .bind(code)
      .first();
    expect(row).toEqual({ clicks: 23, uniqueClicks: 20, botClicks: 2 });
    const daily = await env.DB.prepare(
      "SELECT sum(clicks) AS clicks, sum(unique_clicks) AS u FROM code_daily WHERE code = ?",
    )
      .bind(code)
      .first();
    expect(daily).toEqual({ clicks: 23, u: 20 });
    const stored = await env.DB.prepare("SELECT * FROM clicks WHERE code = ? AND is_bot = 0 LIMIT 1")
      .bind(code)
      .first();
    expect(stored).toMatchObject({ agent_family: "chrome", is_unique: expect.any(Number) });
    expect(Object.keys(stored ?? {})).not.toContain("ip");
  });

  it("applies nothing twice when the alarm runs twice", async () => {
    const code = await createCode("twice-owner", "twce");
    for (let i = 0; i < 5; i++) await click(code, { ip: `10.1.0.${i}` });

    await runDurableObjectAlarm(counter(code));
    await counter(code).recordClicks([clickInput(code)]); // re-arms the alarm
    await runDurableObjectAlarm(counter(code));
    await runDurableObjectAlarm(counter(code));

    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(6);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(6);
  });

  it("keeps the clicks and retries when D1 fails before committing", async () => {
    const code = await createCode("retry-owner", "rtry");
    for (let i = 0; i < 12; i++) await click(code, { ip: `10.2.0.${i}` });

    await withFaultyD1(code, "before", async () => {
      await runDurableObjectAlarm(counter(code));
      await postponeRetry(code);
    });
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(0);
    expect(await counter(code).pendingClicks(code)).toBe(12);

    await flush(code);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(12);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(12);
  });

  it("counts a flush once when D1 committed but its answer was lost", async () => {
    const code = await createCode("lost-owner", "lost");
    for (let i = 0; i < 12; i++) await click(code, { ip: `10.3.0.${i}` });

    await withFaultyD1(code, "after-commit", async () => {
      await runDurableObjectAlarm(counter(code));
      await postponeRetry(code);
    });
    // Committed, but the counter does not know it: the clicks are still buffered.
    expect(await counter(code).pendingClicks(code)).toBe(12);
    await counter(code).recordClicks([clickInput(code)]);

    await flush(code);
    expect(await counter(code).pendingClicks(code)).toBe(0);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(13);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(13);
    expect(await countRows("SELECT sum(clicks) AS n FROM code_daily WHERE code = ?", code)).toBe(13);
  });

  it("flushes a large buffer in several batches", async () => {
    const code = await createCode("large-owner", "big");
    const stub = counter(code);
    for (let i = 0; i < 1_234; i += 50) {
      await stub.recordClicks(Array.from({ length: Math.min(50, 1_234 - i) }, () => clickInput(code)));
    }

    await flush(code);
    const source = counterName(code, 0);
    expect(await countRows("SELECT count(*) AS n FROM click_flushes WHERE counter = ?", source)).toBeGreaterThanOrEqual(
      3,
    );
    expect(
      await countRows("SELECT max(click_count) AS n FROM click_flushes WHERE counter = ?", source),
    ).toBeLessThanOrEqual(500);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(1_234);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(1_234);
  });
});
