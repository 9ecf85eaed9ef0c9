import { and, desc, eq, isNotNull, isNull, lt, lte, min, sql } from "drizzle-orm";
import type { Db } from "../client";
import { outboxEvents } from "../schema";

export type OutboxRow = typeof outboxEvents.$inferSelect;

/** Undelivered events whose next attempt is due, oldest first. */
export function dueEvents(db: Db, now: number, limit: number): Promise<OutboxRow[]> {
  return db
    .select()
    .from(outboxEvents)
    .where(and(isNull(outboxEvents.deliveredAt), lte(outboxEvents.nextAttemptAt, now)))
    .orderBy(outboxEvents.sequence)
    .limit(limit);
}

/** When the next undelivered event is due, or null when none waits. */
export async function nextDue(db: Db): Promise<number | null> {
  const [row] = await db
    .select({ at: min(outboxEvents.nextAttemptAt) })
    .from(outboxEvents)
    .where(isNull(outboxEvents.deliveredAt));
  return row?.at ?? null;
}

export function markDelivered(db: Db, sequence: number, status: number, now: number) {
  return db
    .update(outboxEvents)
    .set({ deliveredAt: now, lastStatus: status, lastError: null, attempts: sql`${outboxEvents.attempts} + 1` })
    .where(eq(outboxEvents.sequence, sequence));
}

export function markFailed(db: Db, sequence: number, status: number | null, error: string, nextAttemptAt: number) {
  return db
    .update(outboxEvents)
    .set({
      attempts: sql`${outboxEvents.attempts} + 1`,
      lastStatus: status,
      lastError: error.slice(0, 500),
      nextAttemptAt,
    })
    .where(eq(outboxEvents.sequence, sequence));
}

export type DeliveryState = "pending" | "delivered" | "failing";

/** The delivery log, newest first, `limit` at a time before the sequence number `before`. */
export function listEvents(db: Db, limit: number, before?: number, state?: DeliveryState) {
  const byState =
    state === "delivered"
      ? isNotNull(outboxEvents.deliveredAt)
      : state === "pending"
        ? and(isNull(outboxEvents.deliveredAt), eq(outboxEvents.attempts, 0))
        : state === "failing"
          ? and(isNull(outboxEvents.deliveredAt), sql`${outboxEvents.attempts} > 0`)
          : undefined;
  return db
    .select()
    .from(outboxEvents)
    .where(and(before === undefined ? undefined : lt(outboxEvents.sequence, before), byState))
    .orderBy(desc(outboxEvents.sequence))
    .limit(limit);
}
