import { createRoute, z } from "@hono/zod-openapi";
import { findCode, setDisplayName } from "../db/queries/codes";
import { parseCode } from "../domain/codes";
import { qrSvg } from "../domain/qr";
import { ApiError } from "../errors";
import { createRouter, errorResponse } from "../openapi";
import { EmailSchema } from "../schemas";
import { ensureCode, getCodeWithStats, shareUrl } from "../services/codes";
import { ensurePromotionCode, promotionCodesEnabled, stateOf } from "../services/promotion-codes";
import { stripeClient } from "../stripe/client";

const PromotionCodeSchema = z
  .object({
    id: z.string().nullable().openapi({ example: "promo_1QxYz2AbCdEf", description: "null until Stripe created it" }),
    active: z.boolean().nullable(),
    error: z
      .string()
      .nullable()
      .openapi({ description: "Why the last attempt failed; the cron retries it, the code works meanwhile" }),
  })
  .openapi("PromotionCode", {
    description:
      "The referee's Stripe promotion code (customer-facing code = the referral code); only there when STRIPE_SECRET_KEY and REFEREE_COUPON are set",
  });

const CodeSchema = z
  .object({
    code: z.string().openapi({ example: "DEVO-ALEX1234" }),
    userId: z.string().openapi({ example: "user_123" }),
    shareUrl: z.string().openapi({ example: "https://refer.example.com/r/DEVO-ALEX1234" }),
    createdAt: z.string().openapi({ example: "2026-11-24T10:00:00.000Z" }),
    promotionCode: PromotionCodeSchema.optional(),
  })
  .openapi("ReferralCode", {
    example: {
      code: "DEVO-ALEX1234",
      userId: "user_123",
      shareUrl: "https://refer.example.com/r/DEVO-ALEX1234",
      createdAt: "2026-11-24T10:00:00.000Z",
    },
  });

const StatsSchema = z
  .object({
    clicks: z.number().int(),
    uniqueClicks: z.number().int(),
    botClicks: z.number().int(),
    signups: z.number().int(),
    conversions: z.number().int(),
  })
  .openapi("CodeStats", { example: { clicks: 120, uniqueClicks: 87, botClicks: 14, signups: 9, conversions: 3 } });

const CreateCodeBody = z
  .strictObject({
    userId: z.string().trim().min(1).max(128).openapi({ example: "user_123" }),
    name: z
      .string()
      .max(64)
      .optional()
      .openapi({ example: "Alex", description: "The code's name part: up to 4 of its letters and digits" }),
    displayName: z
      .string()
      .trim()
      .min(1)
      .max(40)
      .optional()
      .openapi({ example: "Alex P.", description: "Shown on leaderboards; leaving it out keeps the user masked" }),
    email: EmailSchema.optional().openapi({
      example: "alex@example.com",
      description: "Only a keyed hash is kept, to refuse self-referrals",
    }),
  })
  .openapi("CreateCode", { example: { userId: "user_123", name: "Alex", displayName: "Alex P." } });

const CodeParam = z.object({ code: z.string().max(64).openapi({ example: "DEVO-ALEX1234" }) });

const createCodeRoute = createRoute({
  method: "post",
  path: "/api/codes",
  tags: ["codes"],
  summary: "Create (or return) a user's referral code",
  security: [{ ApiKey: [] }],
  request: { body: { required: true, content: { "application/json": { schema: CreateCodeBody } } } },
  responses: {
    200: { description: "The user already had this code", content: { "application/json": { schema: CodeSchema } } },
    201: { description: "The code was created", content: { "application/json": { schema: CodeSchema } } },
    400: errorResponse("The body is not valid"),
    401: errorResponse("Missing or wrong API key"),
  },
});

const getCodeRoute = createRoute({
  method: "get",
  path: "/api/codes/{code}",
  tags: ["codes"],
  summary: "A code with its live counters",
  security: [{ ApiKey: [] }],
  request: { params: CodeParam },
  responses: {
    200: {
      description: "The code and its counters",
      content: { "application/json": { schema: CodeSchema.omit({ createdAt: true }).extend({ stats: StatsSchema }) } },
    },
    400: errorResponse("Not the shape of a code"),
    401: errorResponse("Missing or wrong API key"),
    404: errorResponse("No such code"),
  },
});

const updateCodeRoute = createRoute({
  method: "patch",
  path: "/api/codes/{code}",
  tags: ["codes"],
  summary: "Opt in to (or out of) the leaderboard with a display name",
  security: [{ ApiKey: [] }],
  request: {
    params: CodeParam,
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z
            .strictObject({
              displayName: z
                .string()
                .trim()
                .min(1)
                .max(40)
                .nullable()
                .openapi({ description: "null masks the user again" }),
            })
            .openapi("UpdateCode", { example: { displayName: "Alex P." } }),
        },
      },
    },
  },
  responses: {
    200: {
      description: "The code",
      content: {
        "application/json": {
          schema: CodeSchema.extend({ displayName: z.string().nullable() }).openapi({
            example: {
              code: "DEVO-ALEX1234",
              userId: "user_123",
              shareUrl: "https://refer.example.com/r/DEVO-ALEX1234",
              createdAt: "2026-11-24T10:00:00.000Z",
              displayName: "Alex P.",
            },
          }),
        },
      },
    },
    400: errorResponse("Invalid body or code"),
    401: errorResponse("Missing or wrong API key"),
    404: errorResponse("No such code"),
  },
});

const qrRoute = createRoute({
  method: "get",
  path: "/api/codes/{code}/qr.svg",
  tags: ["codes"],
  summary: "The code's share link as a QR code (SVG), for sharing in person",
  security: [{ ApiKey: [] }],
  request: { params: CodeParam },
  responses: {
    200: {
      description: "An SVG image of the share link's QR code",
      content: { "image/svg+xml": { schema: z.string().openapi({ format: "binary" }) } },
    },
    400: errorResponse("Not the shape of a code"),
    401: errorResponse("Missing or wrong API key"),
    404: errorResponse("No such code"),
  },
});

export const codes = createRouter()
  .openapi(createCodeRoute, async (c) => {
    const input = c.req.valid("json");
    const config = c.var.config;
    const { row, created } = await ensureCode(
      { db: c.var.db, config, counters: c.env.CODE_COUNTER },
      input,
      Date.now(),
    );
    // A second call for the same user retries a promotion code that failed; one that exists is left alone.
    const promotionCode = promotionCodesEnabled(config)
      ? await ensurePromotionCode({ db: c.var.db, config, stripe: stripeClient(config) }, row, Date.now())
      : null;
    return c.json(
      {
        code: row.code,
        userId: row.userId,
        shareUrl: shareUrl(config, row.code),
        createdAt: new Date(row.createdAt).toISOString(),
        // Only when promotion codes are configured: otherwise the answer is as it always was.
        ...(promotionCode ? { promotionCode } : {}),
      },
      created ? 201 : 200,
    );
  })
  .openapi(updateCodeRoute, async (c) => {
    const code = parseCode(c.req.valid("param").code);
    if (!code) throw new ApiError(400, "invalid_request", "code: not a referral code", "code");
    const row = await setDisplayName(c.var.db, code, c.req.valid("json").displayName);
    if (!row) throw new ApiError(404, "code_not_found", `No referral code ${code}`);
    return c.json(
      {
        code: row.code,
        userId: row.userId,
        displayName: row.displayName,
        shareUrl: shareUrl(c.var.config, row.code),
        createdAt: new Date(row.createdAt).toISOString(),
      },
      200,
    );
  })
  .openapi(getCodeRoute, async (c) => {
    const code = parseCode(c.req.valid("param").code);
    if (!code) throw new ApiError(400, "invalid_request", "code: not a referral code", "code");
    const found = await getCodeWithStats({ db: c.var.db, config: c.var.config, counters: c.env.CODE_COUNTER }, code);
    if (!found) throw new ApiError(404, "code_not_found", `No referral code ${code}`);
    return c.json(
      {
        code: found.row.code,
        userId: found.row.userId,
        shareUrl: shareUrl(c.var.config, found.row.code),
        stats: found.stats,
        ...(promotionCodesEnabled(c.var.config) ? { promotionCode: stateOf(found.row) } : {}),
      },
      200,
    );
  })
  .openapi(qrRoute, async (c) => {
    const code = parseCode(c.req.valid("param").code);
    if (!code) throw new ApiError(400, "invalid_request", "code: not a referral code", "code");
    const row = await findCode(c.var.db, code);
    if (!row) throw new ApiError(404, "code_not_found", `No referral code ${code}`);
    return c.body(qrSvg(shareUrl(c.var.config, row.code)), 200, {
      "Content-Type": "image/svg+xml",
      "Cache-Control": "private, max-age=3600",
      // Opened on its own, an SVG is a document: this one needs nothing beyond itself.
      "Content-Security-Policy": "default-src 'none'",
    });
  });
