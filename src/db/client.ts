import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Db = DrizzleD1Database<typeof schema>;

/** A drizzle handle over the D1 binding; cheap to create, one per request or alarm. */
export function createDb(d1: D1Database): Db {
  return drizzle(d1, { schema });
}

/** D1 binds at most 100 parameters per statement. */
export const MAX_BOUND_PARAMETERS = 100;

/** Splits rows so that each multi-row statement stays under D1's parameter limit. */
export function chunkRows<T>(rows: readonly T[], columnsPerRow: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_BOUND_PARAMETERS / columnsPerRow));
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

/** `db.batch` wants a non-empty tuple; this keeps call sites free of casts. */
export type BatchItem = Parameters<Db["batch"]>[0][number];
export async function runBatch(db: Db, statements: BatchItem[]): Promise<void> {
  if (statements.length === 0) return;
  await db.batch(statements as [BatchItem, ...BatchItem[]]);
}
