import { createRoute, z } from "@hono/zod-openapi";
import { parseCode } from "../domain/codes";
import { ApiError } from "../errors";
import { describeError } from "../log";
import { createRouter, errorResponse } from "../openapi";
import { isLogDay, streamDay } from "../services/click-log";

/** One line of the NDJSON answer: one click, as the R2 click log keeps it. */
const LoggedClickSchema = z
  .object({
    id: z.string(),
    code: z.string(),
    clickedAt: z.number().int().openapi({ description: "Epoch milliseconds" }),
    visitorHash: z.string().openapi({ description: "Salted per UTC day: no raw IP, not joinable across days" }),
    isBot: z.boolean(),
    isUnique: z.boolean(),
    country: z.string().nullable(),
    referrerHost: z.string().nullable(),
    agentFamily: z.string(),
  })
  .openapi("LoggedClick", {
    example: {
      id: "3abc2c51-c34b-4257-a938-64087e5e13da",
      code: "DEVO-ALEX1234",
      clickedAt: 1764842400000,
      visitorHash: "9f2c4e0b7a1d3c5e8f60718293a4b5c6",
      isBot: false,
      isUnique: true,
      country: "NL",
      referrerHost: "news.example.org",
      agentFamily: "chrome",
    },
  });

/** The query both the API and the console's link take. */
export const ClickLogQuery = z.object({
  day: z
    .string()
    .max(10)
    .refine(isLogDay, "a UTC day, YYYY-MM-DD")
    .openapi({ description: "The UTC day", example: "2026-12-04" }),
  code: z.string().max(64).optional().openapi({ description: "Only this code's clicks", example: "DEVO-ALEX1234" }),
});

const clickLogRoute = createRoute({
  method: "get",
  path: "/api/clicks",
  tags: ["stats"],
  summary: "One UTC day of the raw click log, streamed as NDJSON from R2",
  description:
    "One JSON object per line, per click that reached the log (flushed; the newest ~30 s may not be yet). " +
    "Streamed object by object: memory stays bounded whatever the day's size. Lines are in time order within " +
    "a flush only. For analysis across days, query the bucket with DuckDB (docs/click-log.md).",
  security: [{ ApiKey: [] }],
  request: { query: ClickLogQuery },
  responses: {
    200: {
      description: "The day's clicks, one per line (empty for a day with none, or past the retention)",
      content: { "application/x-ndjson": { schema: LoggedClickSchema } },
    },
    400: errorResponse("Not a day, or not a referral code"),
    401: errorResponse("Missing or wrong API key"),
    503: errorResponse("The click log (R2) could not be read"),
  },
});

/** The day's clicks as an NDJSON response; shared with the console's link. */
export async function clickLogResponse(bucket: R2Bucket, day: string, rawCode: string | undefined) {
  const code = rawCode === undefined ? undefined : parseCode(rawCode);
  if (code === null) throw new ApiError(400, "invalid_request", "code: not a referral code", "code");
  let body: ReadableStream<Uint8Array>;
  try {
    body = await streamDay(bucket, day, code);
  } catch (error) {
    console.error(`click log for ${day} could not be listed: ${describeError(error)}`);
    throw new ApiError(503, "click_log_unavailable", "The click log could not be read; try again");
  }
  return new Response(body, {
    status: 200,
    headers: { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" },
  });
}

export const clickLog = createRouter().openapi(clickLogRoute, async (c) => {
  const { day, code } = c.req.valid("query");
  // The typed responses describe JSON bodies; this one is a stream.
  return (await clickLogResponse(c.env.CLICK_LOG, day, code)) as never;
});
