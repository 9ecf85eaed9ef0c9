import { env } from "cloudflare:workers";
import { CLICK_LOG_PREFIX, type LoggedClick } from "../src/services/click-log";

export interface LogObject {
  key: string;
  clicks: LoggedClick[];
}

/** Every object of the R2 click log under a prefix, unzipped and parsed, in key order. */
export async function readLog(prefix = CLICK_LOG_PREFIX): Promise<LogObject[]> {
  const objects: LogObject[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.CLICK_LOG.list({ prefix, cursor });
    for (const { key } of page.objects) {
      const body = await env.CLICK_LOG.get(key);
      if (!body) continue;
      const text = await new Response(body.body.pipeThrough(new DecompressionStream("gzip"))).text();
      const clicks = text
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as LoggedClick);
      objects.push({ key, clicks });
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return objects;
}

/** The log's objects that hold clicks of one code, with only that code's clicks. */
export async function logOf(code: string, prefix = CLICK_LOG_PREFIX): Promise<LogObject[]> {
  return (await readLog(prefix))
    .map((object) => ({ key: object.key, clicks: object.clicks.filter((click) => click.code === code) }))
    .filter((object) => object.clicks.length > 0);
}
