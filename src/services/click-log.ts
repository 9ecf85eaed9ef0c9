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

/**
 * One UTC day of the log as NDJSON, object after object (by hour, then flush
 * id; clicks are in time order only within an object). Memory stays bounded
 * whatever the day's size: one page of the listing and one object (a flush,
 * at most a few hundred clicks) at a time, pulled as the reader reads. With
 * `code`, only that code's lines are passed on. The first listing happens
 * before the stream is returned, so an unreachable bucket is an error the
 * caller can answer with, not a cut-off body.
 */
export async function streamDay(bucket: R2Bucket, day: string, code?: string): Promise<ReadableStream<Uint8Array>> {
  const prefix = dayPrefix(day);
  let page = await bucket.list({ prefix });
  let keys = page.objects.map((object) => object.key);
  const encoder = new TextEncoder();
  // A cheap test before parsing: a line of `code` contains it as a JSON string.
  const needle = code === undefined ? undefined : `"code":${JSON.stringify(code)}`;

  const nextKey = async (): Promise<string | undefined> => {
    while (keys.length === 0 && page.truncated) {
      page = await bucket.list({ prefix, cursor: page.cursor });
      keys = page.objects.map((object) => object.key);
    }
    return keys.shift();
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const key = await nextKey();
        if (key === undefined) {
          controller.close();
          return;
        }
        // Gone since the listing: retention deleted its day meanwhile.
        const object = await bucket.get(key);
        if (!object) continue;
        const text = await new Response(object.body.pipeThrough(new DecompressionStream("gzip"))).text();
        const lines = needle === undefined ? text : keepLines(text, needle, code as string);
        if (lines === "") continue;
        controller.enqueue(encoder.encode(lines));
        return;
      }
    },
  });
}

/** The lines of `text` whose click is of `code`. */
function keepLines(text: string, needle: string, code: string): string {
  let kept = "";
  for (const line of text.split("\n")) {
    if (line === "" || !line.includes(needle)) continue;
    if ((JSON.parse(line) as LoggedClick).code === code) kept += `${line}\n`;
  }
  return kept;
}

const DAY_MS = 86_400_000;
/** Objects one cron run deletes at most; the next run carries on. */
const MAX_DELETES_PER_RUN = 10_000;
/** R2 deletes at most this many keys per call. */
const DELETE_BATCH = 1_000;

/** What one retention run removed from the log. */
export interface LogPurge {
  /** Day prefixes emptied completely by this run. */
  days: number;
  objects: number;
}

/**
 * Deletes the log's whole days that are past the retention: a click of day D
 * is kept while D is within the last `retentionDays` UTC days. Days are
 * deleted oldest first, at most MAX_DELETES_PER_RUN objects a run; the next
 * run carries on where this one stopped. Idempotent: deleting a deleted key is
 * a no-op, and days inside the retention are never listed for deletion.
 */
export async function purgeClickLog(
  bucket: R2Bucket,
  now: number,
  retentionDays: number,
  budget = MAX_DELETES_PER_RUN,
): Promise<LogPurge> {
  const firstKept = utcDayOf(now - (retentionDays - 1) * DAY_MS);
  const purge: LogPurge = { days: 0, objects: 0 };
  let cursor: string | undefined;
  do {
    // Day prefixes come back in key order, which is day order: stop at the first day kept.
    const listing = await bucket.list({ prefix: CLICK_LOG_PREFIX, delimiter: "/", cursor });
    for (const prefix of listing.delimitedPrefixes) {
      const day = prefix.slice(`${CLICK_LOG_PREFIX}day=`.length, -1);
      if (!isLogDay(day)) continue;
      if (day >= firstKept) return purge;
      const left = budget - purge.objects;
      if (left <= 0) return purge;
      const deleted = await deleteUnder(bucket, prefix, left);
      purge.objects += deleted.objects;
      if (deleted.emptied) purge.days++;
      else return purge;
    }
    cursor = listing.truncated ? listing.cursor : undefined;
  } while (cursor);
  return purge;
}

function utcDayOf(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** Deletes up to `limit` objects under a prefix; whether none is left. */
async function deleteUnder(
  bucket: R2Bucket,
  prefix: string,
  limit: number,
): Promise<{ objects: number; emptied: boolean }> {
  let objects = 0;
  for (;;) {
    const page = await bucket.list({ prefix, limit: Math.min(DELETE_BATCH, limit - objects) });
    const keys = page.objects.map((object) => object.key);
    if (keys.length > 0) await bucket.delete(keys);
    objects += keys.length;
    if (!page.truncated) return { objects, emptied: true };
    if (objects >= limit) return { objects, emptied: false };
  }
}

/**
 * Which of these clicks are in the log already: read from the objects of the
 * UTC hours they were made in (a click is logged under its own hour). For
 * clicks past D1's hot window, whose rows D1 no longer has; backlogged clicks
 * are rare, so reading a few hours is affordable.
 */
export async function clicksInR2Log(
  bucket: R2Bucket,
  clicks: readonly { clickId: string; at: number }[],
): Promise<Set<string>> {
  const wanted = new Set(clicks.map((click) => click.clickId));
  const hours = new Set(clicks.map((click) => clickLogKey("", click.at).slice(0, -".ndjson.gz".length)));
  const found = new Set<string>();
  for (const prefix of hours) {
    let cursor: string | undefined;
    do {
      const page = await bucket.list({ prefix, cursor });
      for (const { key } of page.objects) {
        const object = await bucket.get(key);
        if (!object) continue;
        const text = await new Response(object.body.pipeThrough(new DecompressionStream("gzip"))).text();
        for (const line of text.split("\n")) {
          if (line === "") continue;
          const { id } = JSON.parse(line) as LoggedClick;
          if (wanted.has(id)) found.add(id);
        }
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  }
  return found;
}
