import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { cors } from "hono/cors";
import { etag, RETAINED_304_HEADERS } from "hono/etag";
import { createDb, runBatch } from "../db/client";
import { recordVisitorStatement } from "../db/queries/referrals";
import { awaitingChoice, findReward } from "../db/queries/rewards";
import { visitorHash } from "../domain/visitor";
import { verifyWidgetToken } from "../domain/widget-token";
import { ApiError } from "../errors";
import { describeError } from "../log";
import { credentialKey, overLimit, RETRY_AFTER_S, rateLimit } from "../middleware/limits";
import { requireWidgetToken, type WidgetEnv } from "../middleware/widget-token";
import { createRouter, ErrorSchema, errorResponse, inputProblem } from "../openapi";
import { EntitlementsSchema, examples, RewardSchema } from "../schemas";
import { choose, chosenJson, rewardJson } from "../services/rewards";
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
  request: {
    query: z.object({
      token: z.string().max(2048).optional().openapi({ description: "A widget token" }),
      chosen: z.string().max(64).optional().openapi({
        description: "A reward whose choice the card just took (its picker sets it): the card confirms it",
      }),
    }),
  },
  responses: {
    200: { description: "The card", content: { "text/html": { schema: z.string() } } },
    401: {
      description: "A friendly page: the token is missing, invalid or expired",
      content: { "text/html": { schema: z.string() } },
    },
    404: { description: "A friendly page: the user has no code yet", content: { "text/html": { schema: z.string() } } },
  },
});

/** An answer for a browser (a page) or for a program (the error envelope). */
const pageOrError = (description: string) => ({
  description,
  content: { "text/html": { schema: z.string() }, "application/json": { schema: ErrorSchema } },
});

const EmbedChoiceSchema = z
  .object({
    token: z.string().min(1).max(2048).openapi({ description: "The widget token the card was loaded with" }),
    choice: z.string().min(1).max(64).openapi({ example: "usage" }),
  })
  .openapi("EmbedChoice", { example: { token: "eyJ0eXAiOiJ3aWRnZXQifQ.c2lnbmF0dXJl", choice: "usage" } });

const embedChooseRoute = createRoute({
  method: "post",
  path: "/widgets/v1/embed/rewards/{id}/choose",
  tags: ["widgets"],
  summary: "The card's reward picker: takes the choice a plain HTML form posts, then goes back to the card",
  description:
    "Does what POST /widgets/v1/me/rewards/{id}/choose does, for the card's forms, which work without JavaScript: " +
    "the widget token comes in the form body (not only the URL), and the answer is a 303 back to the card, which " +
    "confirms the reward. A refusal answers the card with the reason for a browser (Accept: text/html), the error " +
    "envelope otherwise.",
  request: {
    params: chooseRequest.params,
    body: { content: { "application/x-www-form-urlencoded": { schema: EmbedChoiceSchema } }, required: true },
  },
  responses: {
    303: {
      description: "Taken (or already this option): `Location` is the card, `/widgets/v1/embed?token=…&chosen=…`",
    },
    400: pageOrError("The form is malformed, or the choice is not one of the reward's options"),
    401: pageOrError("The token is missing, invalid or expired"),
    404: pageOrError("No such reward of this user, or the user has no code yet"),
    409: pageOrError("Another option was already taken, the reward offers no choice, or it was revoked or expired"),
    415: errorResponse("The body is not a form (application/x-www-form-urlencoded)"),
    429: pageOrError("The token's widget budget is spent: retry after `Retry-After` seconds"),
    503: pageOrError("Too many concurrent changes to the reward's referral; try again"),
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

/**
 * Content-Security-Policy for the card: nonce'd inline style and script,
 * forms posted only to this origin (the reward picker), framed only by the
 * widget origins.
 */
function securityHeaders(c: Context<WidgetEnv>, nonce: string) {
  const ancestors = c.var.config.widgetOrigins.length > 0 ? c.var.config.widgetOrigins.join(" ") : "'self'";
  c.header(
    "Content-Security-Policy",
    `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src data:; ` +
      `base-uri 'none'; form-action 'self'; frame-ancestors ${ancestors}`,
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
    const { token, chosen } = c.req.valid("query");
    const user = await cardUser(c, nonce, token);
    if (user instanceof Response) return user;
    return card(c, nonce, user, 200, { chosenId: chosen });
  })
  .openapi(
    embedChooseRoute,
    async (c) => {
      const nonce = crypto.randomUUID().replace(/-/g, "");
      securityHeaders(c, nonce);
      const { token, choice } = c.req.valid("form");
      const { id } = c.req.valid("param");
      const user = await cardUser(c, nonce, token);
      if (user instanceof Response) return wantsPage(c) ? user : c.json(CARD_REFUSALS[user.status], user.status);
      try {
        await choose(createDb(c.env.DB), id, choice, Date.now(), user.userId);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const status = error.status as ChoiceRefusal;
        if (!wantsPage(c)) return c.json(error.body, status);
        return card(c, nonce, user, status, { problem: choiceProblem(error) });
      }
      const back = new URLSearchParams({ token: user.token, chosen: id });
      return c.redirect(`/widgets/v1/embed?${back}`, 303);
    },
    (result, c) => {
      const problem = inputProblem(result, c);
      if (!problem) return;
      if (!wantsPage(c)) throw problem;
      const nonce = crypto.randomUUID().replace(/-/g, "");
      securityHeaders(c, nonce);
      return c.html(
        EmbedProblem({
          nonce,
          brand: c.var.config.widgetBrand,
          heading: "This choice could not be taken",
          message: "The form was incomplete. Reload the card and choose again.",
        }) as string,
        400,
      );
    },
  );

/** The statuses `choose` refuses with (see embedChooseRoute). */
type ChoiceRefusal = 400 | 404 | 409 | 503;

/** A browser (a form, a link) rather than a program: it reads a page, not the error envelope. */
const wantsPage = (c: Context<WidgetEnv>) => (c.req.header("accept") ?? "").includes("text/html");

/** What a program reads for the card's own refusals (the browser sees a page). */
const CARD_REFUSALS = {
  401: new ApiError(401, "unauthorized", "The widget token is missing, invalid or expired").body,
  429: new ApiError(429, "rate_limited", `Too many requests; retry in ${RETRY_AFTER_S} seconds`).body,
} as const;

/** Why a choice was refused, in words for the person looking at the card. */
function choiceProblem(error: ApiError): string {
  switch (error.code) {
    case "already_chosen":
      return "You already chose this reward: it is shown below.";
    case "invalid_transition":
      return "This reward can no longer be chosen: it was revoked or has expired.";
    case "reward_not_found":
    case "no_choice":
      return "This reward has no choice to take. Reload the card to see your rewards.";
    case "busy":
      return "Your rewards are being updated right now. Try again in a moment.";
    default:
      return "That option is not one this reward offers. Reload the card and choose again.";
  }
}

/**
 * The card's user, from the token; or the friendly page to answer instead
 * (invalid or expired token, the token's widget budget spent). Loading the
 * card and taking a choice on it spend the same budget as the widget API.
 */
async function cardUser(
  c: Context<WidgetEnv>,
  nonce: string,
  token: string | undefined,
): Promise<{ userId: string; token: string } | (Response & { status: 401 | 429 })> {
  const brand = c.var.config.widgetBrand;
  const check = await verifyWidgetToken(token, c.var.config.widgetKeys, Date.now());
  if (check.status !== "valid" || token === undefined) {
    const expired = check.status === "expired";
    return c.html(
      EmbedProblem({
        nonce,
        brand,
        heading: expired ? "This referral card has expired" : "This referral card cannot be shown",
        message: expired
          ? "For your security the card is only valid for a while. Reload the page to get a fresh one."
          : "The link to this card is incomplete or no longer valid. Reload the page, or open your referrals from the dashboard again.",
      }) as string,
      401,
    ) as Response & { status: 401 };
  }
  if (await overLimit(c.env.WIDGET_LIMITER, await credentialKey(`Bearer ${token}`))) {
    c.header("Retry-After", String(RETRY_AFTER_S));
    return c.html(
      EmbedProblem({
        nonce,
        brand,
        heading: "This card was loaded too often",
        message: "Wait a minute, then reload the page.",
      }) as string,
      429,
    ) as Response & { status: 429 };
  }
  return { userId: check.userId, token };
}

/** The card for the token's user, with the rewards they may choose, a choice to confirm, or a problem to tell. */
async function card(
  c: Context<WidgetEnv>,
  nonce: string,
  user: { userId: string; token: string },
  status: 200 | ChoiceRefusal,
  extra: { chosenId?: string; problem?: string },
) {
  const now = Date.now();
  rememberVisitor(c, user.userId);
  const { db } = deps(c);
  try {
    const [summary, series, board, awaiting, chosen] = await Promise.all([
      widgetSummary(deps(c), user.userId, now),
      userTimeseries(deps(c), user.userId, 30, now),
      leaderboard(deps(c), 10, { viewerId: user.userId, masked: true }),
      awaitingChoice(db, user.userId, 10),
      extra.chosenId ? findReward(db, extra.chosenId) : undefined,
    ]);
    const page = EmbedPage({
      nonce,
      brand: c.var.config.widgetBrand,
      summary,
      series,
      board,
      token: user.token,
      awaiting: awaiting.map((row) => rewardJson(row, now)),
      chosen: chosen && chosen.userId === user.userId && chosen.choice ? rewardJson(chosen, now) : undefined,
      problem: extra.problem,
    });
    return c.html(page as string, status);
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
}
