import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import type { ClickRow } from "../../src/db/queries/clicks";
import { utcDay } from "../../src/domain/visitor";
import { runScheduled } from "../../src/scheduled";
import { dayPrefix, purgeClickLog, writeFlushToLog } from "../../src/services/click-log";
import { migrateLegacyClicks } from "../../src/services/click-log-migration";
import { logOf } from "../click-log";
import { countRows, createCode } from "../helpers";

const DAY = 86_400_000;
/**
 * Retention tests run on a clock 1,000 days ahead, with days that are all in
 * the future: a cron run of another test (on today's clock) never deletes them.
 */
const NOW = Date.parse(`${utcDay(Date.now() + 1_000 * DAY)}T12:00:00Z`);

function row(code: string, id: string, at: number): ClickRow {
  return {
    id,
    code,
    clickedAt: at,
    visitorHash: "00112233445566778899aabbccddeeff",
    isBot: false,
    isUnique: true,
    country: "FR",
    referrerHost: null,
    agentFamily: "safari",
  };
}

async function keysOf(day: string): Promise<string[]> {
  return (await env.CLICK_LOG.list({ prefix: dayPrefix(day) })).objects.map((o) => o.key);
}

describe("click log retention", () => {
  it("deletes whole days past CLICK_RETENTION_DAYS and nothing inside it, idempotently", async () => {
    const ages = [120, 91, 90, 89, 1, 0];
    for (const age of ages) {
      const at = NOW - age * DAY;
      await writeFlushToLog(env.CLICK_LOG, `ret-${age}-a`, [row("DEVO-RTNA0001", `r${age}a`, at)]);
      await writeFlushToLog(env.CLICK_LOG, `ret-${age}-b`, [row("DEVO-RTNA0001", `r${age}b`, at - 3_600_000)]);
    }

    const first = await purgeClickLog(env.CLICK_LOG, NOW, 90);

    // Kept: the last 90 UTC days, today included (ages 0 to 89).
    for (const age of [120, 91, 90]) expect(await keysOf(utcDay(NOW - age * DAY))).toEqual([]);
    for (const age of [89, 1, 0]) expect(await keysOf(utcDay(NOW - age * DAY))).toHaveLength(2);
    expect(first.days).toBeGreaterThanOrEqual(3);
    expect(first.objects).toBeGreaterThanOrEqual(6);

    expect(await purgeClickLog(env.CLICK_LOG, NOW, 90)).toEqual({ days: 0, objects: 0 });
    for (const age of [89, 1, 0]) expect(await keysOf(utcDay(NOW - age * DAY))).toHaveLength(2);
  });

  it("does a bounded amount of work per run and carries on in the next", async () => {
    const now = NOW + 400 * DAY;
    const old = now - 200 * DAY;
    for (let i = 0; i < 5; i++) {
      await writeFlushToLog(env.CLICK_LOG, `bounded-${i}`, [row("DEVO-RTNB0001", `b${i}`, old)]);
    }
    await purgeClickLog(env.CLICK_LOG, now - 1_000 * DAY, 90); // a run on an older clock removes nothing of this
    expect(await keysOf(utcDay(old))).toHaveLength(5);

    const runs: { days: number; objects: number }[] = [];
    while ((await keysOf(utcDay(old))).length > 0 && runs.length < 10) {
      runs.push(await purgeClickLog(env.CLICK_LOG, now, 90, 2));
    }
    expect(runs.every((run) => run.objects <= 2)).toBe(true);
    expect(runs.reduce((sum, run) => sum + run.objects, 0)).toBeGreaterThanOrEqual(5);
    expect(runs.at(-1)?.days).toBeGreaterThanOrEqual(1);
  });
});

describe("moving D1's click rows from before the R2 log", () => {
  async function seedLegacy(code: string, count: number, from: number) {
    const insert = env.DB.prepare(
      `INSERT INTO clicks_legacy (id, code, clicked_at, visitor_hash, is_bot, is_unique, country, referrer_host, agent_family)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    await env.DB.batch(
      Array.from({ length: count }, (_, i) =>
        // Every 20 minutes: the rows span several UTC hours, and a bot now and then.
        insert.bind(
          `${code}-legacy-${i}`,
          code,
          from + i * 1_200_000,
          "ffeeddccbbaa99887766554433221100",
          i % 7 === 0 ? 1 : 0,
          1,
          "US",
          "x.com",
          "chrome",
        ),
      ),
    );
  }

  it("moves every row to the log exactly once, resuming after a run that stopped between writing and deleting", async () => {
    const code = await createCode("legacy-owner", "lgcy");
    const from = Date.now() - 3 * DAY;
    await seedLegacy(code, 1_234, from);
    const before = await countRows("SELECT count(*) AS n FROM clicks_legacy WHERE code = ?", code);
    expect(before).toBe(1_234);
    const db = createDb(env.DB);

    // A run that wrote its first chunk's objects and stopped before deleting the rows.
    const firstRowid = await countRows("SELECT min(rowid) AS n FROM clicks_legacy");
    const firstChunk = await env.DB.prepare(
      "SELECT id, code, clicked_at AS clickedAt, visitor_hash AS visitorHash, is_bot AS isBot, is_unique AS isUnique, country, referrer_host AS referrerHost, agent_family AS agentFamily FROM clicks_legacy ORDER BY rowid LIMIT 500",
    ).all<ClickRow>();
    await writeFlushToLog(
      env.CLICK_LOG,
      `legacy-${firstRowid}`,
      firstChunk.results.map((r) => ({ ...r, isBot: Boolean(r.isBot), isUnique: Boolean(r.isUnique) })),
    );

    // Then the job, one chunk per run, until it says it is done.
    let runs = 0;
    for (;;) {
      runs++;
      const run = await migrateLegacyClicks(db, env.CLICK_LOG, Date.now(), 90, 1);
      expect(run.moved + run.expired).toBeLessThanOrEqual(500);
      if (run.done || runs > 10) break;
    }
    expect(runs).toBeGreaterThanOrEqual(3);

    expect(await countRows("SELECT count(*) AS n FROM clicks_legacy WHERE code = ?", code)).toBe(0);
    const logged = (await logOf(code)).flatMap((o) => o.clicks);
    expect(logged).toHaveLength(before);
    expect(new Set(logged.map((c) => c.id)).size).toBe(before);
    expect(logged.filter((c) => c.isBot)).toHaveLength(Math.ceil(1_234 / 7));
    expect(logged[0]).toMatchObject({ code, country: "US", referrerHost: "x.com", agentFamily: "chrome" });
    // Named as a flush's objects are, per UTC hour: readable by day like the rest.
    const days = new Set(logged.map((c) => utcDay(c.clickedAt)));
    for (const day of days) {
      const objects = await logOf(code, dayPrefix(day));
      expect(objects.every((o) => /\/hour=\d{2}\/legacy-\d+\.ndjson\.gz$/.test(o.key))).toBe(true);
    }
  });

  it("drops rows already past the retention instead of moving them, from the cron", async () => {
    const code = await createCode("legacy-old-owner", "lgco");
    await seedLegacy(code, 3, Date.now() - 200 * DAY);
    await env.DB.prepare(
      `INSERT INTO clicks_legacy (id, code, clicked_at, visitor_hash, is_bot, is_unique, country, referrer_host, agent_family)
       VALUES ('legacy-recent-1', ?, ?, 'aa', 0, 1, NULL, NULL, 'edge')`,
    )
      .bind(code, Date.now() - DAY)
      .run();

    const { legacyClicks } = await runScheduled(env, Date.now());

    expect(legacyClicks.done).toBe(true);
    expect(await countRows("SELECT count(*) AS n FROM clicks_legacy WHERE code = ?", code)).toBe(0);
    expect((await logOf(code)).flatMap((o) => o.clicks.map((c) => c.id))).toEqual(["legacy-recent-1"]);
  });

  it("leaves the rest of the cron run to do its work when R2 is down", async () => {
    const down = {
      list: () => Promise.reject(new Error("R2 unavailable")),
      put: () => Promise.reject(new Error("R2 unavailable")),
    } as unknown as R2Bucket;
    const code = await createCode("legacy-r2-down-owner", "lgrd");
    await seedLegacy(code, 2, Date.now() - DAY);

    const result = await runScheduled({ ...env, CLICK_LOG: down }, Date.now());

    expect(result.clickLog).toEqual({ days: 0, objects: 0 });
    expect(result.legacyClicks.done).toBe(false);
    expect(await countRows("SELECT count(*) AS n FROM clicks_legacy WHERE code = ?", code)).toBe(2);
    expect(result.purged).toBeDefined();
  });
});
