import { asc, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import type { ClickRow } from "../db/queries/clicks";
import { clicksLegacy } from "../db/schema";
import { writeFlushToLog } from "./click-log";

/**
 * Rows per chunk. Fixed: a chunk's objects are named by its first row, so a
 * chunk retried after a crash must hold the same rows to rewrite the same
 * objects (see migrateLegacyClicks).
 */
const CHUNK = 500;
/** Chunks one cron run moves at most: 10,000 rows; the next run carries on. */
const MAX_CHUNKS_PER_RUN = 20;
const DAY_MS = 86_400_000;

export interface LegacyMigration {
  /** Rows written to the R2 log and deleted from D1 by this run. */
  moved: number;
  /** Rows past the retention, deleted without being written: the purge would have taken them. */
  expired: number;
  /** Whether `clicks_legacy` is empty after this run: the migration is complete. */
  done: boolean;
}

/**
 * Moves the click rows D1 held before the R2 log existed (`clicks_legacy`,
 * see migration 0024) into the log, oldest row first, a chunk at a time: the
 * chunk's objects are written (named `legacy-<first rowid>`, one per UTC hour
 * as a flush's are), then its rows are deleted. Resumable at any point: a run
 * that stops between the two steps leaves the rows, and the next run writes
 * the same rows to the same objects again before deleting them, so each row
 * ends up in the log exactly once. Runs from the cron until the table is empty.
 */
export async function migrateLegacyClicks(
  db: Db,
  bucket: R2Bucket,
  now: number,
  retentionDays: number,
  maxChunks = MAX_CHUNKS_PER_RUN,
): Promise<LegacyMigration> {
  const result: LegacyMigration = { moved: 0, expired: 0, done: false };
  const cutoff = now - retentionDays * DAY_MS;
  for (let chunk = 0; chunk < maxChunks; chunk++) {
    const rows = await db
      .select({ rowid: sql<number>`rowid`, row: clicksLegacy })
      .from(clicksLegacy)
      .orderBy(asc(sql`rowid`))
      .limit(CHUNK);
    const [first] = rows;
    const last = rows.at(-1);
    if (!first || !last) break;
    const kept: ClickRow[] = rows.map((r) => r.row).filter((row) => row.clickedAt >= cutoff);
    if (kept.length > 0) await writeFlushToLog(bucket, `legacy-${first.rowid}`, kept);
    await db.run(sql`DELETE FROM ${clicksLegacy} WHERE rowid <= ${last.rowid}`);
    result.moved += kept.length;
    result.expired += rows.length - kept.length;
    if (rows.length < CHUNK) break;
  }
  // One row read, not a count: the table may hold millions.
  result.done = (await db.select({ id: clicksLegacy.id }).from(clicksLegacy).limit(1).get()) === undefined;
  return result;
}
