import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type ClickInput, type CodeCounter, UNIQUE_WINDOW_MS } from "../../src/durable-objects/code-counter";
import { click, counter, countRows, createCode, flush } from "../helpers";

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

describe("CodeCounter", () => {
  it("counts a visitor once per hour: again after the window, not before", async () => {
    const code = await createCode("window-owner", "win");
    const stub = counter(code);
    const t0 = Date.UTC(2026, 10, 24, 10, 0, 0);
    const visitorHash = "same-visitor";

    expect((await stub.recordClick(clickInput(code, { at: t0, visitorHash }))).unique).toBe(true);
    expect((await stub.recordClick(clickInput(code, { at: t0 + UNIQUE_WINDOW_MS - 1, visitorHash }))).unique).toBe(
      false,
    );
    expect((await stub.recordClick(clickInput(code, { at: t0 + UNIQUE_WINDOW_MS, visitorHash }))).unique).toBe(true);
    expect(await stub.counters()).toEqual({ clicks: 3, uniqueClicks: 2, botClicks: 0 });
  });

  it("answers unknown for a code that was never registered, and stores nothing", async () => {
    const stub = counter("DEVO-GHST0000");
    expect(await stub.recordClick(clickInput("DEVO-GHST0000"))).toEqual({ known: false, unique: false });
    const tables = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec("SELECT count(*) AS n FROM sqlite_master").one(),
    );
    expect(tables.n).toBe(0);
  });

  it("flushes every click to D1 exactly once, with counters and daily aggregates", async () => {
    const code = await createCode("flush-owner", "flsh");
    // 23 human clicks (3 statements of 11 rows) from 20 visitors, and 2 bots.
    for (let i = 0; i < 23; i++) await click(code, { ip: `10.0.0.${i % 20}` });
    await click(code, { method: "HEAD" });
    await click(code, { userAgent: "Twitterbot/1.0" });

    expect(await runDurableObjectAlarm(counter(code))).toBe(true);

    expect(await counter(code).pendingClicks()).toBe(0);
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
    await counter(code).recordClick(clickInput(code)); // re-arms the alarm
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
    });
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(0);
    expect(await counter(code).pendingClicks()).toBe(12);

    await flush(code);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(12);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(12);
  });

  it("counts a flush once when D1 committed but its answer was lost", async () => {
    const code = await createCode("lost-owner", "lost");
    for (let i = 0; i < 12; i++) await click(code, { ip: `10.3.0.${i}` });

    await withFaultyD1(code, "after-commit", async () => {
      await runDurableObjectAlarm(counter(code));
    });
    // Committed, but the counter does not know it: the clicks are still buffered.
    expect(await counter(code).pendingClicks()).toBe(12);
    await counter(code).recordClick(clickInput(code));

    await flush(code);
    expect(await counter(code).pendingClicks()).toBe(0);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(13);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(13);
    expect(await countRows("SELECT sum(clicks) AS n FROM code_daily WHERE code = ?", code)).toBe(13);
  });

  it("flushes a large buffer in several batches", async () => {
    const code = await createCode("large-owner", "big");
    const stub = counter(code);
    for (let i = 0; i < 1_234; i++) await stub.recordClick(clickInput(code));

    await flush(code);
    // The real alarm may fire while the clicks arrive, so there can be more flushes.
    expect(await countRows("SELECT count(*) AS n FROM click_flushes WHERE code = ?", code)).toBeGreaterThanOrEqual(3);
    expect(await countRows("SELECT max(click_count) AS n FROM click_flushes WHERE code = ?", code)).toBeLessThanOrEqual(
      500,
    );
    expect(await countRows("SELECT sum(click_count) AS n FROM click_flushes WHERE code = ?", code)).toBe(1_234);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(1_234);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(1_234);
  });
});
