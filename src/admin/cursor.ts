import { fromBase64Url, toBase64Url } from "../domain/crypto";
import { ApiError } from "../errors";

/** Opaque list cursors: the sort key of a page's last row, as base64url JSON. */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCursor(key: { at: number; id: string }): string {
  return toBase64Url(encoder.encode(JSON.stringify([key.at, key.id])));
}

/** The key a cursor carries; a 400 for anything that is not a cursor this console made. */
export function decodeCursor(cursor: string | undefined): { at: number; id: string } | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  const bytes = cursor.length <= 400 ? fromBase64Url(cursor) : null;
  try {
    const value: unknown = bytes ? JSON.parse(decoder.decode(bytes)) : null;
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === "string" &&
      value[1].length <= 200
    ) {
      return { at: value[0] as number, id: value[1] };
    }
  } catch {
    // not JSON: refused below
  }
  throw new ApiError(400, "invalid_request", "cursor: not a cursor from a previous page", "cursor");
}

const DAY_MS = 86_400_000;
const MAX_RANGE_DAYS = 731;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const isDay = (value: string) => DAY.test(value) && new Date(Date.parse(value)).toISOString().startsWith(value);

/** `?from=&to=` as inclusive UTC days, defaulting to the last 30 days; the same rules as GET /api/stats. */
export function parseRange(query: { from?: string; to?: string }, now: number): { from: string; to: string } {
  const given = (value: string | undefined) => (value === undefined || value === "" ? undefined : value);
  const fromQ = given(query.from);
  const toQ = given(query.to);
  for (const [name, value] of [
    ["from", fromQ],
    ["to", toQ],
  ] as const) {
    if (value !== undefined && !isDay(value)) {
      throw new ApiError(400, "invalid_request", `${name}: a UTC day, YYYY-MM-DD`, name);
    }
  }
  const to = toQ ?? new Date(now).toISOString().slice(0, 10);
  const from = fromQ ?? new Date(Date.parse(to) - 29 * DAY_MS).toISOString().slice(0, 10);
  const span = (Date.parse(to) - Date.parse(from)) / DAY_MS;
  if (span < 0) throw new ApiError(400, "invalid_request", "from: must not be after to", "from");
  if (span >= MAX_RANGE_DAYS)
    throw new ApiError(400, "invalid_request", "from: the range is limited to two years", "from");
  return { from, to };
}

/** Every day of an inclusive range. */
export function daysOf(from: string, to: string): string[] {
  const days: string[] = [];
  for (let at = Date.parse(from); at <= Date.parse(to); at += DAY_MS)
    days.push(new Date(at).toISOString().slice(0, 10));
  return days;
}
