import { eq, getTableColumns, sql } from "drizzle-orm";
import { utcDay } from "../../domain/visitor";
import { type BatchItem, chunkRows, type Db, runBatch } from "../client";
import { clickFlushes, clicks, codeDaily, programDaily, referralCodes } from "../schema";

export type ClickRow = typeof clicks.$inferInsert;

export interface ClickFlush {
  /** Stable across retries of the same batch: the idempotency key. */
  id: string;
  code: string;
  clicks: ClickRow[];
}

interface Tally {
  clicks: number;
  uniqueClicks: number;
  botClicks: number;
}

function tallyByDay(rows: readonly ClickRow[]): Map<string, Tally> {
  const days = new Map<string, Tally>();
  for (const row of rows) {
    const day = utcDay(row.clickedAt);
    const tally = days.get(day) ?? { clicks: 0, uniqueClicks: 0, botClicks: 0 };
    if (row.isBot) tally.botClicks++;
    else {
      tally.clicks++;
      if (row.isUnique) tally.uniqueClicks++;
    }
    days.set(day, tally);
  }
  return days;
}

/**
 * Writes one flush to D1 as a single atomic batch: the flush marker, the click
 * rows and the counter and daily-aggregate increments they imply. The marker's
 * primary key makes a replayed flush fail as a whole, so increments apply once.
 */
export async function applyClickFlush(db: Db, flush: ClickFlush, now: number): Promise<void> {
  const days = tallyByDay(flush.clicks);
  const total: Tally = { clicks: 0, uniqueClicks: 0, botClicks: 0 };
  for (const tally of days.values()) {
    total.clicks += tally.clicks;
    total.uniqueClicks += tally.uniqueClicks;
    total.botClicks += tally.botClicks;
  }

  const statements: BatchItem[] = [
    db.insert(clickFlushes).values({ id: flush.id, code: flush.code, clickCount: flush.clicks.length, flushedAt: now }),
  ];
  const columns = Object.keys(getTableColumns(clicks)).length;
  for (const chunk of chunkRows(flush.clicks, columns)) {
    statements.push(db.insert(clicks).values(chunk).onConflictDoNothing());
  }
  statements.push(
    db
      .update(referralCodes)
      .set({
        clicks: sql`${referralCodes.clicks} + ${total.clicks}`,
        uniqueClicks: sql`${referralCodes.uniqueClicks} + ${total.uniqueClicks}`,
        botClicks: sql`${referralCodes.botClicks} + ${total.botClicks}`,
      })
      .where(eq(referralCodes.code, flush.code)),
  );
  for (const [day, tally] of days) {
    statements.push(
      db
        .insert(codeDaily)
        .values({ code: flush.code, day, ...tally })
        .onConflictDoUpdate({
          target: [codeDaily.code, codeDaily.day],
          set: {
            clicks: sql`${codeDaily.clicks} + excluded.clicks`,
            uniqueClicks: sql`${codeDaily.uniqueClicks} + excluded.unique_clicks`,
            botClicks: sql`${codeDaily.botClicks} + excluded.bot_clicks`,
          },
        }),
      db
        .insert(programDaily)
        .values({ day, ...tally })
        .onConflictDoUpdate({
          target: programDaily.day,
          set: {
            clicks: sql`${programDaily.clicks} + excluded.clicks`,
            uniqueClicks: sql`${programDaily.uniqueClicks} + excluded.unique_clicks`,
            botClicks: sql`${programDaily.botClicks} + excluded.bot_clicks`,
          },
        }),
    );
  }
  await runBatch(db, statements);
}

/** Whether a flush already landed: how a retry tells "failed" from "applied, answer lost". */
export async function flushLanded(db: Db, id: string): Promise<boolean> {
  const row = await db.select({ id: clickFlushes.id }).from(clickFlushes).where(eq(clickFlushes.id, id)).get();
  return row !== undefined;
}
