import type { ClickRow } from "../db/queries/clicks";

/**
 * The raw click log in R2: one gzip-compressed NDJSON object per flush and
 * UTC hour, at `clicks/day=YYYY-MM-DD/hour=HH/<flush id>.ndjson.gz`. The
 * `day=`/`hour=` folders are Hive-style partitions, so DuckDB and other
 * readers of R2's S3 API can prune by them. One line per click, with the same
 * names as the D1 columns' TypeScript names: no user id, no raw IP.
 */

export const CLICK_LOG_PREFIX = "clicks/";

/** One line of the log. */
export interface LoggedClick {
  id: string;
  code: string;
  clickedAt: number;
  visitorHash: string;
  isBot: boolean;
  isUnique: boolean;
  country: string | null;
  referrerHost: string | null;
  agentFamily: string;
}

const DAY_SHAPE = /^\d{4}-\d{2}-\d{2}$/;

/** The prefix all of one UTC day's objects share. */
export function dayPrefix(day: string): string {
  return `${CLICK_LOG_PREFIX}day=${day}/`;
}

/** Where the clicks of one flush that fall in one UTC hour are kept. */
export function clickLogKey(flushId: string, at: number): string {
  const iso = new Date(at).toISOString();
  return `${dayPrefix(iso.slice(0, 10))}hour=${iso.slice(11, 13)}/${flushId}.ndjson.gz`;
}

function logLine(row: ClickRow): string {
  const line: LoggedClick = {
    id: row.id,
    code: row.code,
    clickedAt: row.clickedAt,
    visitorHash: row.visitorHash,
    isBot: row.isBot,
    isUnique: row.isUnique,
    country: row.country ?? null,
    referrerHost: row.referrerHost ?? null,
    agentFamily: row.agentFamily,
  };
  return `${JSON.stringify(line)}\n`;
}

async function gzip(text: string): Promise<ArrayBuffer> {
  const compressed = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Response(compressed).arrayBuffer();
}

/** What one flush wrote to the log. */
export interface LoggedFlush {
  objects: number;
  bytes: number;
}

/**
 * Writes one flush's clicks to the log: one object per UTC hour they fall in,
 * named by the flush id. A retried flush carries the same id and rows, so it
 * overwrites the same objects with the same bytes: each click is in the log
 * once, however often the flush runs.
 */
export async function writeFlushToLog(
  bucket: R2Bucket,
  flushId: string,
  clicks: readonly ClickRow[],
): Promise<LoggedFlush> {
  const byKey = new Map<string, string[]>();
  for (const row of clicks) {
    const key = clickLogKey(flushId, row.clickedAt);
    const lines = byKey.get(key) ?? [];
    lines.push(logLine(row));
    byKey.set(key, lines);
  }
  let bytes = 0;
  await Promise.all(
    [...byKey].map(async ([key, lines]) => {
      const body = await gzip(lines.join(""));
      bytes += body.byteLength;
      await bucket.put(key, body, {
        httpMetadata: { contentType: "application/x-ndjson" },
        customMetadata: { clicks: String(lines.length) },
      });
    }),
  );
  return { objects: byKey.size, bytes };
}

/** Whether `day` is a real calendar day in `YYYY-MM-DD` form. */
export function isLogDay(day: string): boolean {
  return DAY_SHAPE.test(day) && new Date(`${day}T00:00:00Z`).toISOString().slice(0, 10) === day;
}
