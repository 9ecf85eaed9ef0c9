import { DurableObject } from "cloudflare:workers";
import { createDb } from "../db/client";
import { applyClickFlush, type ClickRow, flushLanded } from "../db/queries/clicks";

/** What the Worker knows about one request to a share link. */
export interface ClickInput {
  code: string;
  shard: number;
  clickId: string;
  at: number;
  visitorHash: string;
  bot: boolean;
  country: string | null;
  referrerHost: string | null;
  agentFamily: string;
}

export interface ClickResult {
  /** False when the code was never registered: the click is not counted. */
  known: boolean;
  unique: boolean;
}

export interface ClickCounters {
  clicks: number;
  uniqueClicks: number;
  botClicks: number;
}

export interface Registration {
  code: string;
  userId: string;
}

/** The same visitor hash within this window counts as one unique click. */
export const UNIQUE_WINDOW_MS = 60 * 60_000;
/** Clicks wait this long in the buffer so that a flush carries many of them. */
const FLUSH_DELAY_MS = 1_000;
/** Clicks per flush: about 46 D1 statements of 11 rows, one atomic batch. */
const FLUSH_BATCH_SIZE = 500;
const MAX_RETRY_DELAY_MS = 5 * 60_000;

/** Shard 0 keeps the plain code as its name, so adding shards later keeps its history. */
export function counterName(code: string, shard: number): string {
  return shard === 0 ? code : `${code}:${shard}`;
}

export function counterStub(namespace: DurableObjectNamespace<CodeCounter>, code: string, shard: number) {
  return namespace.getByName(counterName(code, shard));
}

/** Live click counters of a code: the sum over its shards. */
export async function readClickCounters(
  namespace: DurableObjectNamespace<CodeCounter>,
  code: string,
  shards: number,
): Promise<ClickCounters> {
  const parts = await Promise.all(
    Array.from({ length: shards }, (_, shard) => counterStub(namespace, code, shard).counters()),
  );
  return parts.reduce(
    (sum, part) => ({
      clicks: sum.clicks + part.clicks,
      uniqueClicks: sum.uniqueClicks + part.uniqueClicks,
      botClicks: sum.botClicks + part.botClicks,
    }),
    { clicks: 0, uniqueClicks: 0, botClicks: 0 },
  );
}

type PendingRow = {
  id: string;
  clicked_at: number;
  visitor_hash: string;
  is_bot: number;
  is_unique: number;
  country: string | null;
  referrer_host: string | null;
  agent_family: string;
};

/**
 * One per code (or per `code:shard` for hot codes): the single writer of that
 * code's click counters. It knows whether the code exists, dedupes visitors in
 * a one-hour window, counts exactly (input gates serialise its storage), and
 * buffers click rows that an alarm flushes to D1 off the response path.
 */
export class CodeCounter extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Tables exist only once the code is registered: an unknown code writes nothing. */
  private schemaReady: boolean;
  private cachedRegistration: Registration | null = null;
  private alarmArmed = false;
  private failedFlushes = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.schemaReady =
      this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'registration'").toArray().length > 0;
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmArmed = (await ctx.storage.getAlarm()) !== null;
    });
  }

  private ensureSchema(): void {
    if (this.schemaReady) return;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS registration (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        code TEXT NOT NULL,
        user_id TEXT NOT NULL,
        registered_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS counters (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        clicks INTEGER NOT NULL DEFAULT 0,
        unique_clicks INTEGER NOT NULL DEFAULT 0,
        bot_clicks INTEGER NOT NULL DEFAULT 0
      );
      INSERT OR IGNORE INTO counters (id) VALUES (1);
      CREATE TABLE IF NOT EXISTS visitors (
        hash TEXT PRIMARY KEY,
        counted_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS pending_clicks (
        id TEXT PRIMARY KEY,
        clicked_at INTEGER NOT NULL,
        visitor_hash TEXT NOT NULL,
        is_bot INTEGER NOT NULL,
        is_unique INTEGER NOT NULL,
        country TEXT,
        referrer_host TEXT,
        agent_family TEXT NOT NULL,
        flush_id TEXT
      );
      CREATE INDEX IF NOT EXISTS pending_clicks_flush ON pending_clicks (flush_id);
    `);
    this.schemaReady = true;
  }

  /** Makes the code known to this counter. Idempotent: the first registration stays. */
  register(code: string, userId: string): Registration {
    this.ensureSchema();
    this.sql.exec(
      "INSERT OR IGNORE INTO registration (id, code, user_id, registered_at) VALUES (1, ?, ?, ?)",
      code,
      userId,
      Date.now(),
    );
    return this.registration() as Registration;
  }

  /** The registration, or null for a code nobody created. */
  registration(): Registration | null {
    if (this.cachedRegistration || !this.schemaReady) return this.cachedRegistration;
    const row = this.sql
      .exec<{ code: string; user_id: string }>("SELECT code, user_id FROM registration WHERE id = 1")
      .toArray()[0];
    this.cachedRegistration = row ? { code: row.code, userId: row.user_id } : null;
    return this.cachedRegistration;
  }

  /** Counts one request to the share link; returns whether the code exists. */
  async recordClick(click: ClickInput): Promise<ClickResult> {
    if (!this.registration() && !(await this.adoptRegistration(click.code, click.shard))) {
      return { known: false, unique: false };
    }
    // From here to the end: storage operations only, so input gates keep the
    // read-modify-write of the counters atomic against concurrent clicks.
    let unique = false;
    if (click.bot) {
      this.sql.exec("UPDATE counters SET bot_clicks = bot_clicks + 1 WHERE id = 1");
    } else {
      const seen = this.sql
        .exec<{ counted_at: number }>("SELECT counted_at FROM visitors WHERE hash = ?", click.visitorHash)
        .toArray()[0];
      unique = !seen || click.at - seen.counted_at >= UNIQUE_WINDOW_MS;
      if (unique) {
        this.sql.exec(
          "INSERT INTO visitors (hash, counted_at) VALUES (?, ?) ON CONFLICT (hash) DO UPDATE SET counted_at = excluded.counted_at",
          click.visitorHash,
          click.at,
        );
      }
      this.sql.exec(
        "UPDATE counters SET clicks = clicks + 1, unique_clicks = unique_clicks + ? WHERE id = 1",
        unique ? 1 : 0,
      );
    }
    this.sql.exec(
      `INSERT INTO pending_clicks (id, clicked_at, visitor_hash, is_bot, is_unique, country, referrer_host, agent_family)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      click.clickId,
      click.at,
      click.visitorHash,
      click.bot ? 1 : 0,
      unique ? 1 : 0,
      click.country,
      click.referrerHost,
      click.agentFamily,
    );
    if (!this.alarmArmed) {
      this.alarmArmed = true;
      await this.ctx.storage.setAlarm(Date.now() + FLUSH_DELAY_MS);
    }
    return { known: true, unique };
  }

  counters(): ClickCounters {
    if (!this.schemaReady) return { clicks: 0, uniqueClicks: 0, botClicks: 0 };
    return this.sql
      .exec<{ clicks: number; uniqueClicks: number; botClicks: number }>(
        "SELECT clicks, unique_clicks AS uniqueClicks, bot_clicks AS botClicks FROM counters WHERE id = 1",
      )
      .one();
  }

  /** Clicks counted here that have not reached D1 yet. */
  pendingClicks(): number {
    if (!this.schemaReady) return 0;
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM pending_clicks").one().n;
  }

  /** Flushes buffered clicks to D1, one batch per run; retries until every batch lands. */
  override async alarm(): Promise<void> {
    this.alarmArmed = false;
    const registration = this.registration();
    if (!registration) return;
    this.sql.exec("DELETE FROM visitors WHERE counted_at < ?", Date.now() - UNIQUE_WINDOW_MS);

    const flushId = this.claimFlush();
    if (!flushId) return;
    const rows = this.sql
      .exec<PendingRow>(
        `SELECT id, clicked_at, visitor_hash, is_bot, is_unique, country, referrer_host, agent_family
         FROM pending_clicks WHERE flush_id = ? ORDER BY rowid`,
        flushId,
      )
      .toArray();
    const clicks: ClickRow[] = rows.map((row) => ({
      id: row.id,
      code: registration.code,
      clickedAt: row.clicked_at,
      visitorHash: row.visitor_hash,
      isBot: row.is_bot === 1,
      isUnique: row.is_unique === 1,
      country: row.country,
      referrerHost: row.referrer_host,
      agentFamily: row.agent_family,
    }));

    const db = createDb(this.env.DB);
    try {
      try {
        await applyClickFlush(db, { id: flushId, code: registration.code, clicks }, Date.now());
      } catch (error) {
        // The batch may have committed with only its answer lost: the marker tells.
        if (!(await flushLanded(db, flushId))) throw error;
      }
    } catch (error) {
      // Retry on our own schedule rather than rethrowing: the runtime gives up
      // on an alarm after a few failures, and these clicks must land.
      this.failedFlushes++;
      const delay = Math.min(MAX_RETRY_DELAY_MS, 1_000 * 2 ** this.failedFlushes);
      console.error(`click flush ${flushId} for ${registration.code} failed; retrying in ${delay} ms`, error);
      this.alarmArmed = true;
      await this.ctx.storage.setAlarm(Date.now() + delay);
      return;
    }
    this.failedFlushes = 0;
    this.sql.exec("DELETE FROM pending_clicks WHERE flush_id = ?", flushId);
    if (this.pendingClicks() > 0) {
      this.alarmArmed = true;
      await this.ctx.storage.setAlarm(Date.now());
    }
  }

  /**
   * The batch to flush: the one already in flight (retried with the same id and
   * rows, which is what makes it idempotent), or the next rows, tagged now.
   */
  private claimFlush(): string | null {
    const inFlight = this.sql
      .exec<{ flush_id: string }>("SELECT flush_id FROM pending_clicks WHERE flush_id IS NOT NULL LIMIT 1")
      .toArray()[0];
    if (inFlight) return inFlight.flush_id;
    if (this.pendingClicks() === 0) return null;
    const flushId = crypto.randomUUID();
    this.sql.exec(
      `UPDATE pending_clicks SET flush_id = ?
       WHERE rowid IN (SELECT rowid FROM pending_clicks WHERE flush_id IS NULL ORDER BY rowid LIMIT ?)`,
      flushId,
      FLUSH_BATCH_SIZE,
    );
    return flushId;
  }

  /** A shard other than 0 learns about its code from shard 0, the code's registry. */
  private async adoptRegistration(code: string, shard: number): Promise<boolean> {
    if (shard === 0) return false;
    const primary = await counterStub(this.env.CODE_COUNTER, code, 0).registration();
    if (!primary || primary.code !== code) return false;
    this.register(primary.code, primary.userId);
    return true;
  }
}
