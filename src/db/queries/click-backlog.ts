import { asc, inArray } from "drizzle-orm";
import type { ClickInput } from "../../domain/clicks";
import { chunkRows, type Db, runBatch } from "../client";
import { clickBacklog, clicks, clicksLegacy } from "../schema";

export interface BackloggedClick {
  counter: string;
  click: ClickInput;
}

/** Keeps clicks their counter did not take, to be handed to it later. Idempotent per click id. */
export async function backlogClicks(db: Db, counter: string, batch: readonly ClickInput[], now: number): Promise<void> {
  const rows = batch.map((click) => ({
    clickId: click.clickId,
    counter,
    click: JSON.stringify(click),
    createdAt: now,
  }));
  if (rows.length === 0) return;
  await runBatch(
    db,
    chunkRows(rows, 4).map((chunk) => db.insert(clickBacklog).values(chunk).onConflictDoNothing()),
  );
}

/** The oldest backlogged clicks. */
export async function oldestBacklog(db: Db, limit: number): Promise<BackloggedClick[]> {
  const rows = await db
    .select({ counter: clickBacklog.counter, click: clickBacklog.click })
    .from(clickBacklog)
    .orderBy(asc(clickBacklog.createdAt))
    .limit(limit);
  return rows.map((row) => ({ counter: row.counter, click: JSON.parse(row.click) as ClickInput }));
}

export async function dropFromBacklog(db: Db, clickIds: readonly string[]): Promise<void> {
  if (clickIds.length === 0) return;
  await runBatch(
    db,
    chunkRows(clickIds, 1).map((chunk) => db.delete(clickBacklog).where(inArray(clickBacklog.clickId, chunk))),
  );
}

/**
 * Which of these clicks already reached D1's hot window of the click log (or
 * its rows from before the R2 log, until they are moved there).
 */
export async function clicksInLog(db: Db, clickIds: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const chunk of chunkRows(clickIds, 2)) {
    const hot = db.select({ id: clicks.id }).from(clicks).where(inArray(clicks.id, chunk));
    const legacy = db.select({ id: clicksLegacy.id }).from(clicksLegacy).where(inArray(clicksLegacy.id, chunk));
    for (const row of await hot.unionAll(legacy)) found.add(row.id);
  }
  return found;
}
