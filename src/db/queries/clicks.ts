import { type AnyColumn, eq, getTableColumns, sql } from "drizzle-orm";
import { utcDay } from "../../domain/visitor";
import { type BatchItem, chunkRows, type Db, runBatch } from "../client";
import { clickCounters, clickFlushes, clicks, codeDaily, programDaily, referralCodes } from "../schema";

export type ClickRow = typeof clicks.$inferInsert;

export interface ClickFlush {
  /** Stable across retries of the same batch: the idempotency key. */
  id: string;
  /** The counter object that sent it. */
  counter: string;
  /** The counter's number for it: 1, 2, 3 …, one after the other (a retry keeps it). */
  sequence: number;
  clicks: ClickRow[];
  /** The counter holds nothing beyond these clicks: the batch clears its `holding` flag. */
  drains: boolean;
  /**
   * The start of D1's hot window (CLICK_LOG_HOT_DAYS before now), or null when
   * D1 keeps no click rows (CLICK_LOG_HOT_DAYS = 0); the R2 log keeps them all.
   */
  hotSince: number | null;
}

/**
 * A flush deletes at most this many of its code's rows past the hot window for
 * each row it adds (and at least `PURGE_FLOOR`): the window's purge keeps pace
 * with any click rate, where the cron's bounded sweep alone would fall behind.
 */
const PURGE_PER_ROW = 2;
const PURGE_FLOOR = 100;

interface Tally {
  clicks: number;
  uniqueClicks: number;
  botClicks: number;
}

function add(tallies: Map<string, Tally>, key: string, row: ClickRow) {
  const tally = tallies.get(key) ?? { clicks: 0, uniqueClicks: 0, botClicks: 0 };
  if (row.isBot) tally.botClicks++;
  else {
    tally.clicks++;
    if (row.isUnique) tally.uniqueClicks++;
  }
  tallies.set(key, tally);
}

/**
 * Writes one flush to D1 as a single atomic batch: the flush marker, the click
 * rows (for the hot window; the R2 log has them all) and the counter and
 * daily-aggregate increments they imply, for every code in it. The marker's primary key makes a replayed flush fail as a whole,
 * so increments apply once. Every statement stays under D1's 100 parameters.
 */
export async function applyClickFlush(db: Db, flush: ClickFlush, now: number): Promise<void> {
  const byCode = new Map<string, Tally>();
  const byCodeDay = new Map<string, Tally>();
  const byDay = new Map<string, Tally>();
  for (const row of flush.clicks) {
    const day = utcDay(row.clickedAt);
    add(byCode, row.code, row);
    add(byCodeDay, `${row.code}\n${day}`, row);
    add(byDay, day, row);
  }

  const statements: BatchItem[] = [
    db
      .insert(clickFlushes)
      .values({ id: flush.id, counter: flush.counter, clickCount: flush.clicks.length, flushedAt: now }),
    flushedUpTo(db, flush.counter, flush.sequence),
  ];
  if (flush.drains) statements.push(counterHolding(db, flush.counter, false));
  const rows = flush.hotSince === null ? [] : flush.clicks;
  for (const chunk of chunkRows(rows, Object.keys(getTableColumns(clicks)).length)) {
    statements.push(db.insert(clicks).values(chunk).onConflictDoNothing());
  }
  if (flush.hotSince !== null) {
    // The code's rows that left the hot window, by the (code, clicked_at) index.
    for (const [code, t] of byCode) {
      const limit = Math.max(PURGE_FLOOR, PURGE_PER_ROW * (t.clicks + t.botClicks));
      statements.push(
        db.run(sql`
          DELETE FROM ${clicks} WHERE rowid IN (
            SELECT rowid FROM ${clicks} WHERE ${clicks.code} = ${code} AND ${clicks.clickedAt} < ${flush.hotSince}
            LIMIT ${limit})`),
      );
    }
  }
  // Code totals: one UPDATE … FROM (VALUES …) per 25 codes (4 parameters each).
  for (const chunk of chunkRows([...byCode], 4)) {
    const values = sql.join(
      chunk.map(([code, t]) => sql`(${code}, ${t.clicks}, ${t.uniqueClicks}, ${t.botClicks})`),
      sql`, `,
    );
    statements.push(
      db.run(sql`
        UPDATE ${referralCodes} SET
          clicks = ${referralCodes.clicks} + v.column2,
          unique_clicks = ${referralCodes.uniqueClicks} + v.column3,
          bot_clicks = ${referralCodes.botClicks} + v.column4
        FROM (VALUES ${values}) AS v
        WHERE ${referralCodes.code} = v.column1`),
    );
  }
  const increment = (column: AnyColumn) => sql`${column} + excluded.${sql.identifier(column.name)}`;
  for (const chunk of chunkRows([...byCodeDay], 5)) {
    statements.push(
      db
        .insert(codeDaily)
        .values(
          chunk.map(([key, t]) => {
            const [code = "", day = ""] = key.split("\n");
            return { code, day, ...t };
          }),
        )
        .onConflictDoUpdate({
          target: [codeDaily.code, codeDaily.day],
          set: {
            clicks: increment(codeDaily.clicks),
            uniqueClicks: increment(codeDaily.uniqueClicks),
            botClicks: increment(codeDaily.botClicks),
          },
        }),
    );
  }
  for (const chunk of chunkRows([...byDay], 4)) {
    statements.push(
      db
        .insert(programDaily)
        .values(chunk.map(([day, t]) => ({ day, ...t })))
        .onConflictDoUpdate({
          target: programDaily.day,
          set: {
            clicks: increment(programDaily.clicks),
            uniqueClicks: increment(programDaily.uniqueClicks),
            botClicks: increment(programDaily.botClicks),
          },
        }),
    );
  }
  await runBatch(db, statements);
}

/** Moves the counter's landed-flush mark, never back: what reads compare the counter's buffer with. */
export function flushedUpTo(db: Db, counter: string, sequence: number) {
  return db
    .insert(clickCounters)
    .values({ counter, flushed: sequence })
    .onConflictDoUpdate({
      target: clickCounters.counter,
      set: { flushed: sql`max(${clickCounters.flushed}, excluded.flushed)` },
    });
}

/**
 * What a counter tells D1 about its buffer: 1 when it may hold clicks D1 does
 * not have (set before it acknowledges such a click), 0 in the flush batch
 * that leaves its buffer empty.
 */
export function counterHolding(db: Db, counter: string, holding: boolean) {
  return db
    .insert(clickCounters)
    .values({ counter, holding: holding ? 1 : 0 })
    .onConflictDoUpdate({ target: clickCounters.counter, set: { holding: holding ? 1 : 0 } });
}

/** Lists a counter object as one that may hold clicks D1 does not have: before it learns a code. */
export function listCounter(db: Db, counter: string) {
  return db.insert(clickCounters).values({ counter }).onConflictDoNothing();
}

/** Whether a flush already landed: how a retry tells "failed" from "applied, answer lost". */
export async function flushLanded(db: Db, id: string): Promise<boolean> {
  const row = await db.select({ id: clickFlushes.id }).from(clickFlushes).where(eq(clickFlushes.id, id)).get();
  return row !== undefined;
}
