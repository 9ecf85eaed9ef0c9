import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Db = DrizzleD1Database<typeof schema> & { $client: D1Database };

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

interface CompiledQuery {
  sql: string;
  params: unknown[];
}

/** A statement for `runBatch`: a drizzle query builder or a raw `db.run(sql…)`. */
export type BatchItem = { toSQL(): CompiledQuery } | { getQuery(): CompiledQuery };

/**
 * Runs statements as one D1 batch: atomic, all or nothing. Compiled here
 * rather than through `db.batch`, whose D1 driver cannot bind the parameters
 * of raw `db.run(sql…)` statements.
 */
export async function runBatch(db: Db, statements: readonly BatchItem[]): Promise<D1Result[]> {
  if (statements.length === 0) return [];
  const d1 = db.$client;
  return d1.batch(
    statements.map((statement) => {
      const query = "toSQL" in statement ? statement.toSQL() : statement.getQuery();
      return d1.prepare(query.sql).bind(...query.params);
    }),
  );
}
