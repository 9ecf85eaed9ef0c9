import { lt, sql } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "../client";
import {
  clickFlushes,
  clicks,
  outboxEvents,
  stripeDeferredEvents,
  stripeEvents,
  stripeGuards,
  userVisitors,
} from "../schema";

const CHUNK = 1_000;
/** Rows one table loses per cron run at most; the next run carries on. */
const MAX_PER_RUN = 50_000;

/** Deletes rows whose `time` is before `cutoff`, a chunk at a time; returns how many went. */
async function purgeBefore(db: Db, table: SQLiteTable, time: SQLiteColumn, cutoff: number): Promise<number> {
  let total = 0;
  while (total < MAX_PER_RUN) {
    const doomed = db.select({ rowid: sql`rowid` }).from(table).where(lt(time, cutoff)).limit(CHUNK);
    const { meta } = await db.run(sql`DELETE FROM ${table} WHERE rowid IN (${doomed})`);
    total += meta.changes;
    if (meta.changes < CHUNK) break;
  }
  return total;
}

/**
 * Deletes Stripe guard rows below their subject's latest version, a chunk at a
 * time. Only the latest version is ever read (an event inserts latest + 1, and
 * a concurrent one fails on that same key), so the rows below it are history
 * that only ties subjects together through their event ids. The latest row
 * stays: without it a subject would restart at version 0 under an event that
 * had just read it, and two events could both commit.
 */
async function purgeSupersededGuards(db: Db): Promise<number> {
  let total = 0;
  while (total < MAX_PER_RUN) {
    const { meta } = await db.run(sql`
      DELETE FROM ${stripeGuards} WHERE rowid IN (
        SELECT g.rowid FROM ${stripeGuards} AS g
        WHERE g.version < (SELECT max(m.version) FROM ${stripeGuards} AS m WHERE m.subject = g.subject)
        LIMIT ${CHUNK})`);
    total += meta.changes;
    if (meta.changes < CHUNK) break;
  }
  return total;
}

/** Clears the payloads kept of unprocessable Stripe events once the operator had a month to look; the reason stays. */
async function clearUnprocessablePayloads(db: Db, cutoff: number): Promise<number> {
  const { meta } = await db.run(sql`
    UPDATE ${stripeEvents} SET payload = NULL WHERE rowid IN (
      SELECT rowid FROM ${stripeEvents} WHERE payload IS NOT NULL AND ${stripeEvents.processedAt} < ${cutoff}
      LIMIT ${MAX_PER_RUN})`);
  return meta.changes;
}

export interface Purged {
  clicks: number;
  userVisitors: number;
  clickFlushes: number;
  deferredStripeEvents: number;
  outboxEvents: number;
  stripeGuards: number;
  unprocessablePayloads: number;
}

const DAY_MS = 86_400_000;

/**
 * Keeps personal data small: click rows past D1's hot window (the R2 log
 * keeps them until CLICK_RETENTION_DAYS, and the aggregates they fed stay),
 * visitor hashes after their day is over (the salt rotated), flush markers
 * once no retry can come, Stripe events for customers that
 * never checked out, outbound events a month old, and Stripe guard versions
 * that a newer one replaced.
 */
export async function purgeExpiredData(db: Db, now: number, clickHotDays: number): Promise<Purged> {
  return {
    clicks: await purgeBefore(db, clicks, clicks.clickedAt, now - clickHotDays * DAY_MS),
    userVisitors: await purgeBefore(db, userVisitors, userVisitors.seenAt, now - 2 * DAY_MS),
    // A retried flush comes back within minutes of its last try (MAX_RETRY_DELAY_MS): a day is ample.
    clickFlushes: await purgeBefore(db, clickFlushes, clickFlushes.flushedAt, now - DAY_MS),
    deferredStripeEvents: await purgeBefore(
      db,
      stripeDeferredEvents,
      stripeDeferredEvents.receivedAt,
      now - 30 * DAY_MS,
    ),
    // Delivered, or given up on after a month of retries.
    outboxEvents: await purgeBefore(db, outboxEvents, outboxEvents.createdAt, now - 30 * DAY_MS),
    stripeGuards: await purgeSupersededGuards(db),
    unprocessablePayloads: await clearUnprocessablePayloads(db, now - 30 * DAY_MS),
  };
}
