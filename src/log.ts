import { DrizzleQueryError } from "drizzle-orm/errors";

/**
 * An error as a log line: its name, message, cause and stack frames, but
 * never the values bound to a failed query. Drizzle's errors carry them in
 * their message ("Failed query: … params: user_123,…"), and those values are
 * user ids, emails' hashes and codes: the statement is kept, the values go.
 */
export function describeError(error: unknown, depth = 0): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause !== undefined && depth < 3 ? `\ncaused by: ${describeError(error.cause, depth + 1)}` : "";
  if (error instanceof DrizzleQueryError) return `${error.name}: Failed query: ${error.query}${cause}`;
  const frames = (error.stack ?? "")
    .split("\n")
    .filter((line) => /^\s+at /.test(line))
    .join("\n");
  return `${error.name}: ${error.message}${frames ? `\n${frames}` : ""}${cause}`;
}
