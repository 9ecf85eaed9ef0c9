import { DurableObject } from "cloudflare:workers";
import { counterSettings } from "../config";
import { createDb, runBatch } from "../db/client";
import { clicksInLog } from "../db/queries/click-backlog";
import {
  applyClickFlush,
  type ClickRow,
  counterHolding,
  flushedUpTo,
  flushLanded,
  listCounter,
} from "../db/queries/clicks";
import { ClickBudget } from "../domain/click-budget";
import type { ClickInput } from "../domain/clicks";
import { describeError } from "../log";
import { clicksInR2Log, writeFlushToLog } from "../services/click-log";

export interface ClickCounters {
  clicks: number;
  uniqueClicks: number;
  botClicks: number;
}

/**
 * Clicks a counter holds that have not reached D1, or may have only just:
 * per UTC day, grouped by the flush that carries (or will carry) them. The
 * flush numbered `claimed + batch` carries batch `batch`: batch 0 is the flush
 * in flight (the one numbered `claimed`), batch 1 the next one, and so on,
 * since each flush takes the oldest FLUSH_BATCH_SIZE rows not yet taken. A
 * reader that then sees in D1 that flushes up to W landed adds exactly the
 * batches numbered above W: no click is left out or added twice, whichever
 * flushes land between the two reads.
 */
export interface UnflushedClicks {
  /** The counter's newest flush number handed out (0 before its first flush). */
  claimed: number;
  days: UnflushedDay[];
}

export type UnflushedDay = {
  batch: number;
  day: string;
  clicks: number;
  uniqueClicks: number;
  botClicks: number;
};

/** The same visitor hash within this window counts as one unique click. */
export const UNIQUE_WINDOW_MS = 60 * 60_000;
/**
 * A counter keeps the visitor hashes of the unique window in memory, so a
 * click reads no storage; past this many it reads them from storage instead.
 */
const MAX_VISITORS_IN_MEMORY = 200_000;
/**
 * Clicks wait at most this long in the buffer, so that a flush carries many
 * of them: a quiet counter sends D1 one small batch per interval...
 */
const FLUSH_DELAY_MS = 30_000;
/** ...and a busy one a full batch as soon as it has one: one atomic D1 batch of a few dozen statements. */
const FLUSH_BATCH_SIZE = 500;
const MAX_RETRY_DELAY_MS = 5 * 60_000;

/**
 * How many counter objects share the codes. Fixed for the life of a
 * deployment: a code's object is derived from it, so changing this would move
 * codes away from their counts. Hot codes spread further with CLICK_SHARDS.
 */
export const COUNTER_BUCKETS = 256;

/** FNV-1a: a cheap, stable 32-bit hash for spreading codes over buckets. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * The counter object for a code's shard: shard 0 of every code lives in the
 * bucket its code hashes to; shard k in the bucket of `code:k`.
 */
export function counterName(code: string, shard: number): string {
  return `bucket:${fnv1a(shard === 0 ? code : `${code}:${shard}`) % COUNTER_BUCKETS}`;
}

export function counterStub(namespace: DurableObjectNamespace<CodeCounter>, code: string, shard: number) {
  return namespace.getByName(counterName(code, shard));
}

/**
 * Live click counters of a code: the sum over the objects its shards live in.
 * Two shards may hash to the same object, which then holds both shards'
 * clicks under the code: each object is read once.
 */
export async function readClickCounters(
  namespace: DurableObjectNamespace<CodeCounter>,
  code: string,
  shards: number,
): Promise<ClickCounters> {
  const names = new Set(Array.from({ length: shards }, (_, shard) => counterName(code, shard)));
  const parts = await Promise.all([...names].map((name) => namespace.getByName(name).counters(code)));
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
  code: string;
  clicked_at: number;
  visitor_hash: string;
  is_bot: number;
  is_unique: number;
  country: string | null;
  referrer_host: string | null;
  agent_family: string;
};

const ZERO: ClickCounters = { clicks: 0, uniqueClicks: 0, botClicks: 0 };

/**
 * The single writer of the click counters of the codes in one bucket. It
 * knows which codes exist, dedupes visitors per code in a one-hour window,
 * counts exactly (input gates serialise its storage), and buffers click rows
 * that an alarm flushes to D1 off the response path.
 */
export class CodeCounter extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Tables exist only once a code is registered: unknown codes write nothing. */
  private schemaReady: boolean;
  private readonly known = new Set<string>();
  private alarmArmed = false;
  /** When the armed alarm fires (0 when unknown, after a restart). */
  private flushDueAt = 0;
  private failedFlushes = 0;
  /** Flushes completed by this instance: lets a replay notice one that ran while it waited on D1. */
  private flushesDone = 0;
  /**
   * What this counter last told D1 about holding clicks D1 does not have
   * (`click_counters.holding`, which program-wide reads go by): the write
   * saying so, or false once a flush batch that drains the buffer is sent.
   * Unknown after a restart: the next click tells D1 again.
   */
  private holdingMark: Promise<void> | false | null = null;
  /** The counter's writes to D1, one after the other: they land in the order they are made. */
  private d1Writes: Promise<unknown> = Promise.resolve();
  /** The per-client click budget (CLICK_LIMIT_PER_MINUTE): this object sees every click of its codes. */
  private readonly budget: ClickBudget;
  /**
   * The visitors table in memory (`code \n hash` → counted at), loaded on the
   * first click: every write goes to both, so the table stays the truth and a
   * restart reloads it. Null until loaded, or when it outgrew the memory.
   */
  private visitorsSeen: Map<string, number> | null = null;
  private visitorsTooMany = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.schemaReady = false;
    this.budget = new ClickBudget(counterSettings(env).clickLimitPerMinute);
    // An object from before the flush numbers gets their table here: ensureSchema only adds what is missing.
    if (this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'code_counts'").toArray().length > 0)
      this.ensureSchema();
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmArmed = (await ctx.storage.getAlarm()) !== null;
    });
  }

  private ensureSchema(): void {
    if (this.schemaReady) return;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS code_counts (
        code TEXT PRIMARY KEY,
        registered_at INTEGER NOT NULL,
        clicks INTEGER NOT NULL DEFAULT 0,
        unique_clicks INTEGER NOT NULL DEFAULT 0,
        bot_clicks INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE IF NOT EXISTS visitors (
        code TEXT NOT NULL,
        hash TEXT NOT NULL,
        counted_at INTEGER NOT NULL,
        PRIMARY KEY (code, hash)
      );
      CREATE INDEX IF NOT EXISTS visitors_counted_at ON visitors (counted_at);
      CREATE TABLE IF NOT EXISTS pending_clicks (
        id TEXT PRIMARY KEY,
        code TEXT NOT NULL,
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
      CREATE TABLE IF NOT EXISTS flushes (
        sequence INTEGER PRIMARY KEY,
        flush_id TEXT NOT NULL
      );
    `);
    this.schemaReady = true;
  }

  /**
   * Makes a code known to this counter. Idempotent. The counter keeps no
   * personal data: not even whose code it is. It is listed in D1 first, so a
   * program-wide read that lists the counters finds every one that can hold a
   * click.
   */
  async register(code: string): Promise<void> {
    const db = createDb(this.env.DB);
    await runBatch(db, [listCounter(db, this.name())]);
    this.ensureSchema();
    this.sql.exec("INSERT OR IGNORE INTO code_counts (code, registered_at) VALUES (?, ?)", code, Date.now());
    this.known.add(code);
  }

  /**
   * Makes this counter forget a code: its counts, its visitor hashes and the
   * clicks not yet flushed. Used when a code is retired (its owner was erased);
   * a click on it afterwards is a click on an unknown code. Idempotent.
   */
  forget(code: string): void {
    this.known.delete(code);
    // Reloaded from storage on the next click, without this code's visitors.
    this.visitorsSeen = null;
    if (!this.schemaReady) return;
    this.sql.exec("DELETE FROM code_counts WHERE code = ?", code);
    this.sql.exec("DELETE FROM visitors WHERE code = ?", code);
    // Clicks of a flush in flight go too: its retry resends only what is left,
    // and D1 drops click rows of a code it no longer has (migration 0014).
    this.sql.exec("DELETE FROM pending_clicks WHERE code = ?", code);
  }

  /** Whether the code was registered here. */
  isRegistered(code: string): boolean {
    if (this.known.has(code)) return true;
    if (!this.schemaReady) return false;
    const found = this.sql.exec("SELECT 1 FROM code_counts WHERE code = ?", code).toArray().length > 0;
    if (found) this.known.add(code);
    return found;
  }

  /**
   * Counts a batch of requests to share links, each exactly once (a click id
   * seen before is a retried delivery and is skipped). Clicks of codes this
   * counter does not have, and clicks over their client's budget, are
   * neither counted nor written. Returns the codes of the batch that exist.
   */
  async recordClicks(clicks: readonly ClickInput[]): Promise<Record<string, boolean>> {
    return this.countClicks(clicks, await this.knownCodes(clicks));
  }

  /**
   * Counts clicks that could not reach this counter when they were made (see
   * the click backlog). Their first delivery may have landed after all: a
   * click still buffered here is skipped by its id, one already flushed by
   * its row in D1. A flush that completes while D1 is asked means asking again,
   * so no click can slip from the buffer to D1 unseen.
   */
  async replayClicks(clicks: readonly ClickInput[]): Promise<Record<string, boolean>> {
    const known = await this.knownCodes(clicks);
    let fresh = clicks;
    for (;;) {
      const flushesBefore = this.flushesDone;
      const inLog = await this.alreadyLogged(fresh);
      fresh = fresh.filter((click) => !inLog.has(click.clickId));
      if (this.flushesDone === flushesBefore) break;
    }
    return this.countClicks(fresh, known);
  }

  /** The start of D1's hot window (CLICK_LOG_HOT_DAYS back), or null when D1 keeps no click rows. */
  private hotSince(): number | null {
    const { clickLogHotDays } = counterSettings(this.env);
    return clickLogHotDays > 0 ? Date.now() - clickLogHotDays * 86_400_000 : null;
  }

  /**
   * Which of these clicks a flush already carried: D1's hot window of click
   * rows knows the recent ones; the R2 log is read for the hours of those
   * older than the window (all of them with CLICK_LOG_HOT_DAYS=0).
   */
  private async alreadyLogged(clicks: readonly ClickInput[]): Promise<Set<string>> {
    const found = await clicksInLog(
      createDb(this.env.DB),
      clicks.map((click) => click.clickId),
    );
    const hotSince = this.hotSince() ?? Date.now();
    const cold = clicks.filter((click) => !found.has(click.clickId) && click.at < hotSince);
    if (cold.length > 0) for (const id of await clicksInR2Log(this.env.CLICK_LOG, cold)) found.add(id);
    return found;
  }

  /** Which codes of the batch exist; may ask shard 0's counter. */
  private async knownCodes(clicks: readonly ClickInput[]): Promise<Record<string, boolean>> {
    const known: Record<string, boolean> = {};
    for (const click of clicks) {
      if (click.code in known) continue;
      known[click.code] = this.isRegistered(click.code) || (await this.adoptRegistration(click));
    }
    return known;
  }

  private async countClicks(
    clicks: readonly ClickInput[],
    known: Record<string, boolean>,
  ): Promise<Record<string, boolean>> {
    // From here to the first await: storage operations only, so input gates keep
    // the read-modify-write of the counters atomic against concurrent batches.
    const tallies = new Map<string, ClickCounters>();
    for (const click of clicks) {
      if (!known[click.code]) continue;
      const counted = this.count(click);
      if (!counted) continue;
      const tally = tallies.get(click.code) ?? { clicks: 0, uniqueClicks: 0, botClicks: 0 };
      if (click.bot) tally.botClicks++;
      else tally.clicks++;
      if (counted === "unique") tally.uniqueClicks++;
      tallies.set(click.code, tally);
    }
    for (const [code, tally] of tallies) {
      this.sql.exec(
        "UPDATE code_counts SET clicks = clicks + ?, unique_clicks = unique_clicks + ?, bot_clicks = bot_clicks + ? WHERE code = ?",
        tally.clicks,
        tally.uniqueClicks,
        tally.botClicks,
        code,
      );
    }
    if (tallies.size > 0) {
      const told = this.tellHolding();
      await this.scheduleFlush();
      // Acknowledged only once D1 lists this counter as holding clicks, so a
      // program-wide read that starts after this answer asks it.
      await told;
    }
    return known;
  }

  /** Tells D1 that this counter holds clicks it does not have, unless it already did. */
  private tellHolding(): Promise<void> {
    if (this.holdingMark) return this.holdingMark;
    const mark: Promise<void> = this.serially(() => {
      const db = createDb(this.env.DB);
      return runBatch(db, [counterHolding(db, this.name(), true)]);
    }).then(
      () => undefined,
      (error: unknown) => {
        // Reads miss these clicks until their flush lands; the next click tries again.
        console.warn(`counter ${this.name()} could not tell D1 it holds clicks: ${describeError(error)}`);
        if (this.holdingMark === mark) this.holdingMark = null;
      },
    );
    this.holdingMark = mark;
    return mark;
  }

  private serially<T>(write: () => Promise<T>): Promise<T> {
    const run = this.d1Writes.then(write, write);
    this.d1Writes = run.catch(() => undefined);
    return run;
  }

  private async scheduleFlush(): Promise<void> {
    if (!this.alarmArmed) {
      this.alarmArmed = true;
      this.flushDueAt = Date.now() + FLUSH_DELAY_MS;
      await this.ctx.storage.setAlarm(this.flushDueAt);
    } else if (this.flushDueAt > Date.now() && this.unflushed() >= FLUSH_BATCH_SIZE) {
      // A full batch is waiting: flush now rather than at the end of the interval.
      this.flushDueAt = Date.now();
      await this.ctx.storage.setAlarm(this.flushDueAt);
    }
  }

  /** Clicks not yet claimed by a flush. */
  private unflushed(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM pending_clicks WHERE flush_id IS NULL").one().n;
  }

  /**
   * Buffers one click for the flush; false for a click id already seen or a
   * client over its budget, "unique" for a new visitor.
   */
  private count(click: ClickInput): false | "unique" | "repeat" {
    if (!this.budget.take(click.client, click.at)) return false;
    let unique = false;
    if (!click.bot) {
      const seen = this.visitorCountedAt(click.code, click.visitorHash, click.at);
      unique = seen === undefined || click.at - seen >= UNIQUE_WINDOW_MS;
    }
    const inserted = this.sql.exec(
      `INSERT INTO pending_clicks (id, code, clicked_at, visitor_hash, is_bot, is_unique, country, referrer_host, agent_family)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      click.clickId,
      click.code,
      click.at,
      click.visitorHash,
      click.bot ? 1 : 0,
      unique ? 1 : 0,
      click.country,
      click.referrerHost,
      click.agentFamily,
    ).rowsWritten;
    if (inserted === 0) {
      // A retried delivery of a click counted before: it spends no budget twice.
      this.budget.giveBack(click.client, click.at);
      return false;
    }
    if (!unique) return "repeat";
    this.sql.exec(
      `INSERT INTO visitors (code, hash, counted_at) VALUES (?, ?, ?)
       ON CONFLICT (code, hash) DO UPDATE SET counted_at = excluded.counted_at`,
      click.code,
      click.visitorHash,
      click.at,
    );
    this.visitorsSeen?.set(`${click.code}\n${click.visitorHash}`, click.at);
    return "unique";
  }

  /** When the visitor was last counted as unique for the code (undefined: not in the window's table). */
  private visitorCountedAt(code: string, hash: string, now: number): number | undefined {
    const seen = this.loadVisitors(now);
    if (seen) return seen.get(`${code}\n${hash}`);
    return this.sql
      .exec<{ counted_at: number }>("SELECT counted_at FROM visitors WHERE code = ? AND hash = ?", code, hash)
      .toArray()[0]?.counted_at;
  }

  /** The visitors table in memory, loaded once; null when it is too large to hold. */
  private loadVisitors(now: number): Map<string, number> | null {
    if (this.visitorsTooMany) return null;
    let seen = this.visitorsSeen;
    if (!seen) {
      seen = new Map();
      // What left the window counts as unseen anyway (the alarm deletes it from the table too).
      for (const row of this.sql.exec<{ code: string; hash: string; counted_at: number }>(
        "SELECT code, hash, counted_at FROM visitors WHERE counted_at > ? LIMIT ?",
        now - UNIQUE_WINDOW_MS,
        MAX_VISITORS_IN_MEMORY,
      ))
        seen.set(`${row.code}\n${row.hash}`, row.counted_at);
    } else if (seen.size >= MAX_VISITORS_IN_MEMORY) {
      for (const [key, countedAt] of seen) if (countedAt <= now - UNIQUE_WINDOW_MS) seen.delete(key);
    }
    if (seen.size >= MAX_VISITORS_IN_MEMORY) {
      // Too many to hold: ask storage per click, for the life of this instance.
      this.visitorsTooMany = true;
      this.visitorsSeen = null;
      return null;
    }
    this.visitorsSeen = seen;
    return seen;
  }

  counters(code: string): ClickCounters {
    if (!this.schemaReady) return { ...ZERO };
    return (
      this.sql
        .exec<{ clicks: number; uniqueClicks: number; botClicks: number }>(
          "SELECT clicks, unique_clicks AS uniqueClicks, bot_clicks AS botClicks FROM code_counts WHERE code = ?",
          code,
        )
        .toArray()[0] ?? { ...ZERO }
    );
  }

  /** Clicks counted here that have not reached D1 yet (of one code, or of all). */
  pendingClicks(code?: string): number {
    if (!this.schemaReady) return 0;
    const query = code
      ? this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM pending_clicks WHERE code = ?", code)
      : this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM pending_clicks");
    return query.one().n;
  }

  /**
   * Flushes buffered clicks, one batch per run: their rows to the R2 click log,
   * then counters and aggregates to D1; retries until every batch lands.
   */
  override async alarm(): Promise<void> {
    this.alarmArmed = false;
    if (!this.schemaReady) return;
    this.sql.exec("DELETE FROM visitors WHERE counted_at < ?", Date.now() - UNIQUE_WINDOW_MS);

    const claim = this.claimFlush();
    if (!claim) return;
    const { flushId, sequence } = claim;
    const clicks: ClickRow[] = this.sql
      .exec<PendingRow>(
        `SELECT id, code, clicked_at, visitor_hash, is_bot, is_unique, country, referrer_host, agent_family
         FROM pending_clicks WHERE flush_id = ? ORDER BY rowid`,
        flushId,
      )
      .toArray()
      .map((row) => ({
        id: row.id,
        code: row.code,
        clickedAt: row.clicked_at,
        visitorHash: row.visitor_hash,
        isBot: row.is_bot === 1,
        isUnique: row.is_unique === 1,
        country: row.country,
        referrerHost: row.referrer_host,
        agentFamily: row.agent_family,
      }));

    // Nothing beyond this batch: the batch clears the holding flag, and a click
    // counted from here on sets it again with a write that lands after it.
    const drains = this.unflushed() === 0;
    if (drains) this.holdingMark = false;
    const db = createDb(this.env.DB);
    const hotSince = this.hotSince();
    const timing = { r2Ms: 0, d1StartedAt: 0 };
    try {
      // The raw log first: a flush that fails after this write is retried with
      // the same id and rows, and rewrites the same objects.
      const started = Date.now();
      await writeFlushToLog(this.env.CLICK_LOG, flushId, clicks);
      timing.r2Ms = Date.now() - started;
      timing.d1StartedAt = Date.now();
      await this.serially(async () => {
        try {
          await applyClickFlush(
            db,
            { id: flushId, counter: this.name(), sequence, clicks, drains, hotSince },
            Date.now(),
          );
        } catch (error) {
          // The batch may have committed with only its answer lost: the marker tells.
          if (!(await flushLanded(db, flushId))) throw error;
          // A flush begun before flushes were numbered landed without its number.
          await runBatch(db, [
            flushedUpTo(db, this.name(), sequence),
            ...(drains ? [counterHolding(db, this.name(), false)] : []),
          ]);
        }
      });
    } catch (error) {
      // Retry on our own schedule rather than rethrowing: the runtime gives up
      // on an alarm after a few failures, and these clicks must land.
      this.failedFlushes++;
      const delay = Math.min(MAX_RETRY_DELAY_MS, 1_000 * 2 ** this.failedFlushes);
      console.error(`click flush ${flushId} failed; retrying in ${delay} ms: ${describeError(error)}`);
      this.alarmArmed = true;
      this.flushDueAt = Date.now() + delay;
      await this.ctx.storage.setAlarm(this.flushDueAt);
      return;
    }
    this.failedFlushes = 0;
    // Time only moves across I/O in a Worker: these are the R2 write's and the D1 batch's own durations.
    console.debug(
      `click flush ${flushId}: ${clicks.length} clicks, R2 ${timing.r2Ms} ms, D1 ${Date.now() - timing.d1StartedAt} ms`,
    );
    this.sql.exec("DELETE FROM pending_clicks WHERE flush_id = ?", flushId);
    this.flushesDone++;
    if (this.pendingClicks() > 0) {
      this.alarmArmed = true;
      // A full batch goes at once; a remainder waits for company, like any new click.
      this.flushDueAt = Date.now() + (this.unflushed() >= FLUSH_BATCH_SIZE ? 0 : FLUSH_DELAY_MS);
      await this.ctx.storage.setAlarm(this.flushDueAt);
    }
  }

  /**
   * The batch to flush: the one already in flight (retried with the same id and
   * rows, which is what makes it idempotent), or the next rows, tagged now.
   */
  private claimFlush(): { flushId: string; sequence: number } | null {
    const inFlight = this.inFlight();
    if (inFlight) return inFlight;
    if (this.pendingClicks() === 0) return null;
    const flushId = crypto.randomUUID();
    this.sql.exec(
      `UPDATE pending_clicks SET flush_id = ?
       WHERE rowid IN (SELECT rowid FROM pending_clicks WHERE flush_id IS NULL ORDER BY rowid LIMIT ?)`,
      flushId,
      FLUSH_BATCH_SIZE,
    );
    return { flushId, sequence: this.numberFlush(flushId) };
  }

  /** The flush waiting on D1, with its number (numbered now if it began before flushes were). */
  private inFlight(): { flushId: string; sequence: number } | null {
    const row = this.sql
      .exec<{ flush_id: string; sequence: number | null }>(
        `SELECT p.flush_id, f.sequence FROM pending_clicks p LEFT JOIN flushes f ON f.flush_id = p.flush_id
         WHERE p.flush_id IS NOT NULL LIMIT 1`,
      )
      .toArray()[0];
    if (!row) return null;
    return { flushId: row.flush_id, sequence: row.sequence ?? this.numberFlush(row.flush_id) };
  }

  /** Gives a flush the next number; only the newest number is kept. */
  private numberFlush(flushId: string): number {
    const sequence = this.claimed() + 1;
    this.sql.exec("INSERT INTO flushes (sequence, flush_id) VALUES (?, ?)", sequence, flushId);
    this.sql.exec("DELETE FROM flushes WHERE sequence < ?", sequence);
    return sequence;
  }

  private claimed(): number {
    return this.sql.exec<{ n: number }>("SELECT coalesce(max(sequence), 0) AS n FROM flushes").one().n;
  }

  /**
   * The clicks of one code (or of every code here) not in D1 yet, or just
   * landing: per UTC day in [from, to], by the flush that carries them.
   */
  unflushedClicks(code: string | null, from: string, to: string): UnflushedClicks {
    if (this.pendingClicks() === 0) this.tellDrained();
    if (!this.schemaReady) return { claimed: 0, days: [] };
    // Numbers the flush in flight first, so that `claimed` is its number.
    this.inFlight();
    // The batch size is written into the query: a bound JS number is a REAL, and the division must be an integer one.
    const days = this.sql
      .exec<UnflushedDay>(
        `WITH taken AS (
           SELECT code, clicked_at, is_bot, is_unique,
             CASE WHEN flush_id IS NOT NULL THEN 0
                  ELSE 1 + (row_number() OVER (PARTITION BY flush_id IS NULL ORDER BY rowid) - 1) / ${FLUSH_BATCH_SIZE} END AS batch
           FROM pending_clicks
         )
         SELECT batch, strftime('%Y-%m-%d', clicked_at / 1000, 'unixepoch') AS day,
           sum(is_bot = 0) AS clicks, sum(is_bot = 0 AND is_unique = 1) AS uniqueClicks, sum(is_bot) AS botClicks
         FROM taken WHERE ? IS NULL OR code = ?
         GROUP BY batch, day HAVING day BETWEEN ? AND ?
         ORDER BY batch, day`,
        code,
        code,
        from,
        to,
      )
      .toArray();
    return { claimed: this.claimed(), days };
  }

  /**
   * A counter asked while it holds nothing clears its flag, so that reads
   * stop asking it: one listed as holding since before the flag existed, or
   * one whose last flush answer was lost.
   */
  private tellDrained(): void {
    if (this.holdingMark === false) return;
    this.holdingMark = false;
    void this.serially(() => {
      const db = createDb(this.env.DB);
      return runBatch(db, [counterHolding(db, this.name(), false)]);
    }).catch((error: unknown) => {
      console.warn(`counter ${this.name()} could not clear its holding flag: ${describeError(error)}`);
    });
  }

  /**
   * The details of a click still buffered here, for the referral it brings:
   * null once its flush landed (D1's hot window has it then) or if unknown.
   */
  clickDetails(
    clickId: string,
  ): { clickedAt: number; country: string | null; referrerHost: string | null; agentFamily: string } | null {
    if (!this.schemaReady) return null;
    return (
      this.sql
        .exec<{ clickedAt: number; country: string | null; referrerHost: string | null; agentFamily: string }>(
          `SELECT clicked_at AS clickedAt, country, referrer_host AS referrerHost, agent_family AS agentFamily
           FROM pending_clicks WHERE id = ?`,
          clickId,
        )
        .toArray()[0] ?? null
    );
  }

  /** The name this object was reached by ("bucket:N"). */
  private name(): string {
    return this.ctx.id.name ?? "counter";
  }

  /** A shard other than 0 learns about its code from shard 0's counter, the code's registry. */
  private async adoptRegistration(click: ClickInput): Promise<boolean> {
    if (click.shard === 0 || counterName(click.code, 0) === this.ctx.id.name) return false;
    if (!(await counterStub(this.env.CODE_COUNTER, click.code, 0).isRegistered(click.code))) return false;
    await this.register(click.code);
    return true;
  }
}
