import { createRoute, z } from "@hono/zod-openapi";
import { referralSources } from "../domain/attribution-source";
import { signWidgetToken } from "../domain/widget-token";
import { ApiError } from "../errors";
import { createRouter, errorResponse } from "../openapi";
import { leaderboard, programStats } from "../services/widgets";

const widgetTokenRoute = createRoute({
  method: "post",
  path: "/api/widget-tokens",
  tags: ["widgets"],
  summary: "A short-lived token that lets one user's browser read that user's widgets",
  security: [{ ApiKey: [] }],
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z
            .strictObject({ userId: z.string().trim().min(1).max(128) })
            .openapi("WidgetTokenRequest", { example: { userId: "user_123" } }),
        },
      },
    },
  },
  responses: {
    201: {
      description: "The token and when it expires",
      content: {
        "application/json": {
          schema: z.object({ token: z.string(), expiresAt: z.string() }).openapi("WidgetToken", {
            example: { token: "eyJ0eXAiOiJ3aWRnZXQi….b3NDlj…", expiresAt: "2026-11-24T11:00:00.000Z" },
          }),
        },
      },
    },
    400: errorResponse("Invalid body"),
    401: errorResponse("Missing or wrong API key"),
  },
});

const day = z
  .string()
  .max(10)
  .regex(/^\d{4}-\d{2}-\d{2}$/, "a UTC day, YYYY-MM-DD")
  .refine(
    (value) => !Number.isNaN(Date.parse(value)) && new Date(value).toISOString().startsWith(value),
    "not a calendar day",
  );
const MAX_RANGE_DAYS = 731;

const StatsSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    clicks: z.number().int(),
    uniqueClicks: z.number().int(),
    botClicks: z.number().int(),
    signups: z.number().int(),
    conversions: z.number().int(),
    conversionRate: z.number().openapi({ description: "conversions / signups in the range" }),
    rewards: z.object({
      granted: z.number().int(),
      redeemed: z.number().int(),
      expired: z.number().int(),
      revoked: z.number().int(),
      redemptionRate: z.number(),
    }),
    revenue: z.array(
      z.object({ currency: z.string(), gross: z.number().int(), refunded: z.number().int(), net: z.number().int() }),
    ),
    topReferrers: z.array(
      z.object({
        code: z.string(),
        userId: z.string(),
        displayName: z.string().nullable(),
        signups: z.number().int(),
        conversions: z.number().int(),
      }),
    ),
    bySource: z
      .record(z.enum(referralSources), z.object({ signups: z.number().int(), conversions: z.number().int() }))
      .openapi({
        description:
          "Signups (by signup day) and conversions (by conversion day) in the range, per carrier that attributed them",
      }),
  })
  .openapi("ProgramStats", {
    example: {
      from: "2026-11-01",
      to: "2026-11-30",
      clicks: 48210,
      uniqueClicks: 30112,
      botClicks: 9120,
      signups: 1204,
      conversions: 301,
      conversionRate: 0.25,
      rewards: { granted: 6020, redeemed: 2100, expired: 800, revoked: 12, redemptionRate: 0.3488 },
      revenue: [{ currency: "usd", gross: 872900, refunded: 14500, net: 858400 }],
      topReferrers: [
        { code: "DEVO-ALEX1234", userId: "user_123", displayName: "Alex P.", signups: 42, conversions: 11 },
      ],
      bySource: {
        cookie: { signups: 700, conversions: 180 },
        url: { signups: 210, conversions: 52 },
        promotion_code: { signups: 90, conversions: 40 },
        code: { signups: 190, conversions: 25 },
        email_match: { signups: 14, conversions: 4 },
      },
    },
  });

const statsRoute = createRoute({
  method: "get",
  path: "/api/stats",
  tags: ["stats"],
  summary: "Program totals over a range of UTC days, from daily aggregates",
  security: [{ ApiKey: [] }],
  request: {
    query: z.object({
      from: day
        .optional()
        .openapi({ description: "First day, inclusive (default: 29 days before `to`)", example: "2026-11-01" }),
      to: day.optional().openapi({ description: "Last day, inclusive (default: today, UTC)", example: "2026-11-30" }),
    }),
  },
  responses: {
    200: { description: "Totals", content: { "application/json": { schema: StatsSchema } } },
    400: errorResponse("Bad dates, from after to, or more than two years"),
    401: errorResponse("Missing or wrong API key"),
  },
});

const leaderboardRoute = createRoute({
  method: "get",
  path: "/api/leaderboard",
  tags: ["stats"],
  summary: "Top referrers by signups, then conversions, unmasked",
  security: [{ ApiKey: [] }],
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }) },
  responses: {
    200: {
      description: "The ranking",
      content: {
        "application/json": {
          schema: z.object({
            entries: z.array(
              z.object({
                rank: z.number().int(),
                name: z.string().nullable(),
                userId: z.string().optional(),
                code: z.string().optional(),
                signups: z.number().int(),
                conversions: z.number().int(),
              }),
            ),
          }),
        },
      },
    },
    400: errorResponse("limit is not 1-100"),
    401: errorResponse("Missing or wrong API key"),
  },
});

const DAY_MS = 86_400_000;

export const stats = createRouter()
  .openapi(widgetTokenRoute, async (c) => {
    const expiresAt = Date.now() + c.var.config.widgetTokenTtlMs;
    const [key] = c.var.config.widgetKeys;
    if (!key) throw new ApiError(500, "misconfigured", "WIDGET_KEYS has no key");
    const token = await signWidgetToken(c.req.valid("json").userId, expiresAt, key);
    return c.json({ token, expiresAt: new Date(expiresAt).toISOString() }, 201);
  })
  .openapi(statsRoute, async (c) => {
    const query = c.req.valid("query");
    const to = query.to ?? new Date().toISOString().slice(0, 10);
    const from = query.from ?? new Date(Date.parse(to) - 29 * DAY_MS).toISOString().slice(0, 10);
    const span = (Date.parse(to) - Date.parse(from)) / DAY_MS;
    if (span < 0) throw new ApiError(400, "invalid_request", "from: must not be after to", "from");
    if (span >= MAX_RANGE_DAYS)
      throw new ApiError(400, "invalid_request", "from: the range is limited to two years", "from");
    const deps = { db: c.var.db, config: c.var.config, counters: c.env.CODE_COUNTER };
    return c.json(await programStats(deps, from, to), 200);
  })
  .openapi(leaderboardRoute, async (c) => {
    const deps = { db: c.var.db, config: c.var.config, counters: c.env.CODE_COUNTER };
    return c.json(await leaderboard(deps, c.req.valid("query").limit, { masked: false }), 200);
  });
