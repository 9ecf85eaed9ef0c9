import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { cors } from "hono/cors";
import { etag, RETAINED_304_HEADERS } from "hono/etag";
import { createDb, runBatch } from "../db/client";
import { recordVisitorStatement } from "../db/queries/referrals";
import { visitorHash } from "../domain/visitor";
import { verifyWidgetToken } from "../domain/widget-token";
import { ApiError } from "../errors";
import { describeError } from "../log";
import { credentialKey, overLimit, RETRY_AFTER_S, rateLimit } from "../middleware/limits";
import { requireWidgetToken, type WidgetEnv } from "../middleware/widget-token";
import { createRouter, errorResponse } from "../openapi";
import { EntitlementsSchema, examples, RewardSchema } from "../schemas";
import { choose, chosenJson } from "../services/rewards";
import { leaderboard, userTimeseries, widgetSummary } from "../services/widgets";
import { EmbedPage, EmbedProblem } from "../widgets/embed-page";
import { chooseAnswers, chooseRequest } from "./rewards";

const MeSchema = z
  .object({
    userId: z.string(),
    code: z.string(),
    shareUrl: z.string(),
    displayName: z.string().nullable(),
    counters: z.object({
      clicks: z.number().int(),
      uniqueClicks: z.number().int(),
      signups: z.number().int(),
      conversions: z.number().int(),
      conversionRate: z.number().openapi({ description: "conversions / signups" }),
    }),
    rewards: z.object({
      counts: z.record(z.string(), z.number().int()),
      recent: z.array(RewardSchema),
    }),
    entitlements: EntitlementsSchema,
  })
  .openapi("WidgetMe", {
    example: {
      userId: "user_123",
      code: "DEVO-ALEX1234",
      shareUrl: "https://refer.example.com/r/DEVO-ALEX1234",
      displayName: null,
      counters: { clicks: 120, uniqueClicks: 87, signups: 9, conversions: 3, conversionRate: 0.3333 },
      rewards: { counts: { pending: 0, active: 4, redeemed: 2, expired: 1, revoked: 0 }, recent: [examples.reward] },
      entitlements: examples.entitlements,
    },
  });

const TimeseriesSchema = z
  .object({
    code: z.string(),
    days: z.array(
      z.object({ day: z.string(), clicks: z.number().int(), signups: z.number().int(), conversions: z.number().int() }),
    ),
  })
  .openapi("Timeseries", {
    example: {
      code: "DEVO-ALEX1234",
      days: [
        { day: "2026-11-23", clicks: 4, signups: 1, conversions: 0 },
        { day: "2026-11-24", clicks: 7, signups: 0, conversions: 1 },
      ],
    },
  });

const LeaderboardSchema = z
  .object({
    entries: z.array(
      z.object({
        rank: z.number().int(),
        name: z.string().nullable(),
        signups: z.number().int(),
        conversions: z.number().int(),
        isYou: z.boolean().optional(),
      }),
    ),
    you: z
      .object({ rank: z.number().int(), signups: z.number().int(), conversions: z.number().int() })
      .nullable()
      .optional(),
  })
  .openapi("WidgetLeaderboard", {
    example: {
      entries: [
        { rank: 1, name: "Anonymous referrer", signups: 42, conversions: 11, isYou: false },
        { rank: 2, name: "Alex P.", signups: 9, conversions: 3, isYou: true },
      ],
      you: { rank: 2, signups: 9, conversions: 3 },
    },
  });

const cached = (schema: z.ZodType, description: string) => ({
  200: { description, content: { "application/json": { schema } } },
  304: { description: "Not modified since the ETag in If-None-Match" },
  401: errorResponse("Missing, invalid or expired widget token"),
});

const security = [{ WidgetToken: [] }];

const meRoute = createRoute({
  method: "get",
  path: "/widgets/v1/me",
  tags: ["widgets"],
  summary: "The signed-in user's link, counters, rewards and entitlements",
  security,
  responses: { ...cached(MeSchema, "The user's referral summary"), 404: errorResponse("The user has no code yet") },
});

const timeseriesRoute = createRoute({
  method: "get",
  path: "/widgets/v1/me/timeseries",
  tags: ["widgets"],
  summary: "Daily clicks, signups and conversions, zero-filled, UTC",
  security,
  request: { query: z.object({ days: z.coerce.number().int().min(1).max(365).default(30) }) },
  responses: {
    ...cached(TimeseriesSchema, "One entry per day, oldest first"),
    400: errorResponse("days is not 1-365"),
    404: errorResponse("The user has no code yet"),
  },
});

const leaderboardRoute = createRoute({
  method: "get",
  path: "/widgets/v1/leaderboard",
  tags: ["widgets"],
  summary: "Top referrers, masked unless they opted in, with the caller's own rank",
  security,
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(50).default(10) }) },
  responses: { ...cached(LeaderboardSchema, "The ranking"), 400: errorResponse("limit is not 1-50") },
});

const chooseRoute = createRoute({
  method: "post",
  path: "/widgets/v1/me/rewards/{id}/choose",
  tags: ["widgets"],
  summary: "The signed-in user takes one of the options of their reward that offers a choice",
  security,
  request: chooseRequest,
  responses: {
    ...chooseAnswers,
    401: errorResponse("Missing, invalid or expired widget token"),
    404: errorResponse("No such reward of this user"),
  },
});

const embedRoute = createRoute({
  method: "get",
  path: "/widgets/v1/embed",
  tags: ["widgets"],
  summary: "The embeddable referral card (HTML), for an iframe or a new tab",
  request: { query: z.object({ token: z.string().max(2048).optional().openapi({ description: "A widget token" }) }) },
  responses: {
    200: { description: "The card", content: { "text/html": { schema: z.string() } } },
    401: {
      description: "A friendly page: the token is missing, invalid or expired",
      content: { "text/html": { schema: z.string() } },
    },
    404: { description: "A friendly page: the user has no code yet", content: { "text/html": { schema: z.string() } } },
  },
});

/** A short private cache life: a dashboard that polls revalidates with `widgetEtag` and gets 304s. */
function cachedJson<T extends object>(c: Context<WidgetEnv>, data: T) {
  c.header("Cache-Control", "private, max-age=15");
  c.header("Vary", "Authorization, Origin");
  return c.json(data, 200);
}

/**
 * Content ETags (the first 128 bits of the body's SHA-256, the same tags as
 * before for any body under Hono's 256 KiB digest chunk) and 304s for
 * If-None-Match. A 304 keeps the CORS headers too: without them a dashboard
 * on another origin cannot read its own revalidation.
 */
const widgetEtag = etag({
  generateDigest: async (body) => (await crypto.subtle.digest("SHA-256", body)).slice(0, 16),
  retainedHeaders: [...RETAINED_304_HEADERS, "access-control-allow-origin", "access-control-expose-headers"],
});

/** Visitor hashes this isolate already stored, so a polling dashboard writes once an hour, not once a poll. */
const rememberedVisitors = new Map<string, number>();

/** The widget's browser is the user's: its visitor hash feeds the same-browser fraud check. */
function rememberVisitor(c: Context<WidgetEnv>, userId: string) {
  const now = Date.now();
  const work = visitorHash(
    c.var.config.visitorSalt,
    now,
    c.req.header("cf-connecting-ip") ?? "",
    c.req.header("user-agent") ?? "",
  )
    .then((hash) => {
      const key = `${userId}\n${hash}`;
      if ((rememberedVisitors.get(key) ?? 0) > now) return;
      if (rememberedVisitors.size >= 10_000) rememberedVisitors.clear();
      rememberedVisitors.set(key, now + 3_600_000);
      const db = createDb(c.env.DB);
      return runBatch(db, [recordVisitorStatement(db, userId, hash, now)]);
    })
    .catch((error) => console.warn(`recording a widget visitor failed: ${describeError(error)}`));
  c.executionCtx.waitUntil(work);
}

const deps = (c: Context<WidgetEnv>) => ({
  db: createDb(c.env.DB),
  config: c.var.config,
  counters: c.env.CODE_COUNTER,
});

/** Content-Security-Policy for the card: nonce'd inline style and script, framed only by the widget origins. */
function securityHeaders(c: Context<WidgetEnv>, nonce: string) {
  const ancestors = c.var.config.widgetOrigins.length > 0 ? c.var.config.widgetOrigins.join(" ") : "'self'";
  c.header(
    "Content-Security-Policy",
    `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src data:; ` +
      `base-uri 'none'; form-action 'none'; frame-ancestors ${ancestors}`,
  );
  c.header("X-Content-Type-Options", "nosniff");
  // The token is in the URL: never send it to the share targets.
  c.header("Referrer-Policy", "no-referrer");
  c.header("Cache-Control", "private, no-store");
}

export const widgetApi = createRouter<WidgetEnv>();
const corsForWidgetOrigins = cors({
  origin: (requestOrigin) => requestOrigin,
  allowMethods: ["GET", "POST", "OPTIONS"],
  allowHeaders: ["Authorization", "If-None-Match", "Content-Type"],
  exposeHeaders: ["ETag"],
  maxAge: 600,
});
/** CORS for the widget origins only: any other origin gets no CORS header at all, preflights included. */
widgetApi.use("/widgets/*", async (c, next) => {
  const requestOrigin = c.req.header("origin");
  if (requestOrigin && c.var.config.widgetOrigins.includes(requestOrigin)) return corsForWidgetOrigins(c, next);
  c.header("Vary", "Origin", { append: true });
  if (c.req.method === "OPTIONS") return c.body(null, 204);
  await next();
});
const widgetLimit = rateLimit<WidgetEnv>(
  (env) => env.WIDGET_LIMITER,
  (c) => credentialKey(c.req.header("authorization")),
);
// "/me/*" also matches "/me" itself.
widgetApi.use("/widgets/v1/me/*", requireWidgetToken, widgetLimit);
widgetApi.use("/widgets/v1/leaderboard", requireWidgetToken, widgetLimit);
widgetApi.use("/widgets/v1/me", widgetEtag);
widgetApi.use("/widgets/v1/me/timeseries", widgetEtag);
widgetApi.use("/widgets/v1/leaderboard", widgetEtag);

export const widgets = widgetApi
  .openapi(meRoute, async (c) => {
    const userId = c.var.widgetUserId;
    rememberVisitor(c, userId);
    return cachedJson(c, await widgetSummary(deps(c), userId, Date.now()));
  })
  .openapi(timeseriesRoute, async (c) =>
    cachedJson(c, await userTimeseries(deps(c), c.var.widgetUserId, c.req.valid("query").days, Date.now())),
  )
  .openapi(leaderboardRoute, async (c) =>
    cachedJson(
      c,
      await leaderboard(deps(c), c.req.valid("query").limit, { viewerId: c.var.widgetUserId, masked: true }),
    ),
  )
  .openapi(chooseRoute, async (c) => {
    const now = Date.now();
    const { id } = c.req.valid("param");
    const chosen = await choose(deps(c).db, id, c.req.valid("json").choice, now, c.var.widgetUserId);
    c.header("Cache-Control", "no-store");
    return c.json(chosenJson(chosen, now), 200);
  })
  .openapi(embedRoute, async (c) => {
    const nonce = crypto.randomUUID().replace(/-/g, "");
    securityHeaders(c, nonce);
    const check = await verifyWidgetToken(c.req.valid("query").token, c.var.config.widgetKeys, Date.now());
    if (check.status !== "valid") {
      const expired = check.status === "expired";
      return c.html(
        EmbedProblem({
          nonce,
          brand: c.var.config.widgetBrand,
          heading: expired ? "This referral card has expired" : "This referral card cannot be shown",
          message: expired
            ? "For your security the card is only valid for a while. Reload the page to get a fresh one."
            : "The link to this card is incomplete or no longer valid. Reload the page, or open your referrals from the dashboard again.",
        }) as string,
        401,
      );
    }
    // The card spends the token's widget budget too: reloading it cannot do what calling the API may not.
    if (await overLimit(c.env.WIDGET_LIMITER, await credentialKey(`Bearer ${c.req.valid("query").token}`))) {
      c.header("Retry-After", String(RETRY_AFTER_S));
      return c.html(
        EmbedProblem({
          nonce,
          brand: c.var.config.widgetBrand,
          heading: "This card was loaded too often",
          message: "Wait a minute, then reload the page.",
        }) as string,
        429,
      );
    }
    const now = Date.now();
    rememberVisitor(c, check.userId);
    try {
      const [summary, series, board] = await Promise.all([
        widgetSummary(deps(c), check.userId, now),
        userTimeseries(deps(c), check.userId, 30, now),
        leaderboard(deps(c), 10, { viewerId: check.userId, masked: true }),
      ]);
      return c.html(EmbedPage({ nonce, brand: c.var.config.widgetBrand, summary, series, board }) as string, 200);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
      return c.html(
        EmbedProblem({
          nonce,
          brand: c.var.config.widgetBrand,
          heading: "No referral link yet",
          message: "Your referral link is being set up. Check back in a moment.",
        }) as string,
        404,
      );
    }
  });
