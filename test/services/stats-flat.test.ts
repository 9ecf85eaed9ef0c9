import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { createDb } from "../../src/db/client";
import { COUNTER_BUCKETS } from "../../src/durable-objects/code-counter";
import { leaderboard, programStats, userTimeseries, widgetSummary } from "../../src/services/widgets";
import { testBindings } from "../bindings";
import { attribute, click, countRows, createCode, flush } from "../helpers";

const config = parseConfig(testBindings);

/** A D1 binding that records every statement the code prepares, with its parameters. */
function recordingD1(log: { sql: string; params: unknown[] }[]): D1Database {
  const real = env.DB;
  const wrap = (statement: D1PreparedStatement, sql: string): D1PreparedStatement =>
    new Proxy(statement, {
      get(target, key) {
        if (key === "bind")
          return (...params: unknown[]) => {
            log.push({ sql, params });
            return wrap(target.bind(...params), sql);
          };
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  return new Proxy(real, {
    get(target, key) {
      if (key === "prepare") return (sql: string) => wrap(target.prepare(sql), sql);
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Every read behind the dashboards and the operator's stats. */
async function allReads(db: ReturnType<typeof createDb>, userId: string) {
  const deps = { db, config, counters: env.CODE_COUNTER };
  const today = new Date().toISOString().slice(0, 10);
  return {
    me: await widgetSummary(deps, userId, Date.now()),
    series: await userTimeseries(deps, userId, 365, Date.now()),
    board: await leaderboard(deps, 10, { viewerId: userId, masked: true }),
    stats: await programStats(deps, "2025-11-25", today),
  };
}

describe("stats reads", () => {
  it("never touch the click log and never scan a whole table, however many clicks there are", async () => {
    const code = await createCode("flat-owner", "flat");
    for (let i = 0; i < 5; i++) await click(code, { ip: `198.20.0.${i}` });
    await flush(code);
    for (let i = 0; i < 3; i++) await attribute({ refereeId: `flat-ref-${i}`, code });
    const before = await allReads(createDb(env.DB), "flat-owner");

    // 200,000 more rows in the click log, straight into D1.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
       INSERT INTO clicks (id, code, clicked_at, visitor_hash, is_bot, is_unique, country, referrer_host, agent_family)
       SELECT 'seed-' || i, ?, ? - i * 1000, hex(randomblob(16)), 0, 1, 'NL', NULL, 'chrome' FROM n`,
    )
      .bind(code, Date.now())
      .run();
    expect(await countRows("SELECT count(*) AS n FROM clicks")).toBeGreaterThan(200_000);

    const log: { sql: string; params: unknown[] }[] = [];
    const after = await allReads(createDb(recordingD1(log)), "flat-owner");
    // The answers come from counters and aggregates, which the raw rows do not feed.
    expect(after).toEqual(before);

    expect(log.length).toBeGreaterThanOrEqual(8);
    expect(await countRows("SELECT count(*) AS n FROM click_counters")).toBeLessThanOrEqual(COUNTER_BUCKETS);
    for (const { sql, params } of log) {
      const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...params)
        .all<{ detail: string }>();
      const details = plan.results.map((row) => row.detail);
      expect(details.join(" | "), sql).not.toMatch(/\b(SCAN|SEARCH) clicks\b/);
      for (const detail of details) {
        // A scan is fine only along an index, which the reads stop early on (LIMIT) or bound by key,
        // or over click_counters: one row per counter object, at most COUNTER_BUCKETS whatever the traffic.
        if (/^SCAN \w+$/.test(detail) && detail !== "SCAN click_counters")
          expect.fail(`full table scan "${detail}" in: ${sql}`);
        // Per-user ledger reads must be bounded by the user, not by a global status.
        if (/SEARCH rewards/.test(detail)) expect(detail, sql).toMatch(/user_id=/);
      }
    }
  });
});
