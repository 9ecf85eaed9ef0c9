// @ts-nocheck: runs in workerd (bench/counter-sql.mjs), not in Node.
// The counter object's record path, storage only: the tables of src/durable-objects/code-counter.ts and
// ways of writing one batch of clicks to them, each batch one RPC and so one storage commit.
import { DurableObject } from "cloudflare:workers";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS code_counts (code TEXT PRIMARY KEY, registered_at INTEGER NOT NULL,
    clicks INTEGER NOT NULL DEFAULT 0, unique_clicks INTEGER NOT NULL DEFAULT 0, bot_clicks INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS visitors (code TEXT NOT NULL, hash TEXT NOT NULL, counted_at INTEGER NOT NULL,
    PRIMARY KEY (code, hash));
  CREATE INDEX IF NOT EXISTS visitors_counted_at ON visitors (counted_at);
  CREATE TABLE IF NOT EXISTS pending_clicks (id TEXT PRIMARY KEY, code TEXT NOT NULL, clicked_at INTEGER NOT NULL,
    visitor_hash TEXT NOT NULL, is_bot INTEGER NOT NULL, is_unique INTEGER NOT NULL, country TEXT, referrer_host TEXT,
    agent_family TEXT NOT NULL, flush_id TEXT);
  CREATE INDEX IF NOT EXISTS pending_clicks_flush ON pending_clicks (flush_id);
`;
const INSERT_ONE = `INSERT INTO pending_clicks (id, code, clicked_at, visitor_hash, is_bot, is_unique, country, referrer_host, agent_family)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`;
const INSERT_BATCH = `INSERT INTO pending_clicks (id, code, clicked_at, visitor_hash, is_bot, is_unique, country, referrer_host, agent_family)
  SELECT value ->> 'id', value ->> 'code', value ->> 'clicked_at', value ->> 'visitor_hash', value ->> 'is_bot',
    value ->> 'is_unique', value ->> 'country', value ->> 'referrer_host', value ->> 'agent_family'
  FROM json_each(?) WHERE true ON CONFLICT (id) DO NOTHING RETURNING id`;
const COUNT = `UPDATE code_counts SET clicks = clicks + ?, unique_clicks = unique_clicks + ?, bot_clicks = bot_clicks + ?
  WHERE code = ?`;
/** A flush every this many clicks: what the alarm does to these tables (its D1 and R2 writes are left out). */
const FLUSH_EVERY = 500;

export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
    this.sql.exec("INSERT OR IGNORE INTO code_counts (code, registered_at) VALUES ('CODE', 0)");
    this.buffered = 0;
  }

  /** As the counter writes today: per click its row and its visitor; per batch the counters and a count of the buffer. */
  perClick(rows) {
    for (const row of rows) {
      this.sql.exec(INSERT_ONE, ...Object.values(row));
      this.sql.exec(
        "INSERT INTO visitors (code, hash, counted_at) VALUES (?, ?, ?) ON CONFLICT (code, hash) DO UPDATE SET counted_at = excluded.counted_at",
        row.code,
        row.visitor_hash,
        row.clicked_at,
      );
    }
    this.sql.exec(COUNT, rows.length, rows.length, 0, "CODE");
    this.sql.exec("SELECT count(*) AS n FROM pending_clicks WHERE flush_id IS NULL").one();
    this.flushNow(rows.length, false);
  }

  /** One statement per table however many clicks: rows and visitors through json_each, the counters per code. */
  batched(rows) {
    this.sql.exec(INSERT_BATCH, JSON.stringify(rows)).toArray();
    this.sql.exec(
      `INSERT INTO visitors (code, hash, counted_at) SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?) WHERE true
       ON CONFLICT (code, hash) DO UPDATE SET counted_at = excluded.counted_at`,
      JSON.stringify(rows.map((row) => [row.code, row.visitor_hash, row.clicked_at])),
    );
    this.sql.exec(COUNT, rows.length, rows.length, 0, "CODE");
    this.flushNow(rows.length, false);
  }

  /** As `batched`, but the visitors reach their table with the flush (the rows say which clicks were unique). */
  visitorsAtFlush(rows) {
    this.sql.exec(INSERT_BATCH, JSON.stringify(rows)).toArray();
    this.sql.exec(COUNT, rows.length, rows.length, 0, "CODE");
    this.flushNow(rows.length, true);
  }

  /** Nothing written: the RPC alone. */
  rpcOnly() {}

  flushNow(added, visitorsToo) {
    this.buffered += added;
    if (this.buffered < FLUSH_EVERY) return;
    this.buffered = 0;
    if (visitorsToo) {
      this.sql.exec(`INSERT INTO visitors (code, hash, counted_at)
        SELECT code, visitor_hash, clicked_at FROM pending_clicks WHERE is_unique = 1
        ON CONFLICT (code, hash) DO UPDATE SET counted_at = max(counted_at, excluded.counted_at)`);
    }
    this.sql.exec("DELETE FROM pending_clicks");
  }
}

export default {
  /** GET /?pattern=P&batch=K&rpcs=N: N batches of K new clicks (each a new visitor) to the pattern's own object. */
  async fetch(request, env) {
    const params = new URL(request.url).searchParams;
    const pattern = params.get("pattern");
    const batch = Number(params.get("batch"));
    const rpcs = Number(params.get("rpcs"));
    const counter = env.COUNTER.getByName(`${pattern}-${batch}`);
    for (let i = 0; i < rpcs; i++) {
      const rows = Array.from({ length: batch }, () => ({
        id: crypto.randomUUID(),
        code: "CODE",
        clicked_at: Date.now(),
        visitor_hash: crypto.randomUUID().replaceAll("-", ""),
        is_bot: 0,
        is_unique: 1,
        country: "NL",
        referrer_host: null,
        agent_family: "chrome",
      }));
      await counter[pattern](rows);
    }
    return new Response("ok");
  },
};
