import { createRoute, z } from "@hono/zod-openapi";
import type { ReferralRow } from "../db/queries/referrals";
import { createRouter, errorResponse } from "../openapi";
import { EmailSchema, examples, ReferralSchema, RewardSchema } from "../schemas";
import { attribute } from "../services/attributions";
import { rewardJson } from "../services/rewards";

export function referralJson(row: ReferralRow) {
  return {
    id: row.id,
    code: row.code,
    referrerId: row.referrerId,
    refereeId: row.refereeId,
    clickId: row.clickId,
    source: row.source,
    status: row.status,
    referrerRewarded: row.referrerRewarded,
    signedUpAt: new Date(row.signedUpAt).toISOString(),
    convertedAt: row.convertedAt === null ? null : new Date(row.convertedAt).toISOString(),
  };
}

const AttributionBody = z
  .strictObject({
    refereeId: z.string().trim().min(1).max(128).openapi({ example: "user_456" }),
    token: z
      .string()
      .max(2048)
      .optional()
      .openapi({ description: "The ref_token cookie the signup page received, or the ref_click token from its URL" }),
    urlToken: z
      .string()
      .max(2048)
      .optional()
      .openapi({ description: "The ref_click token from the signup URL, when the cookie is sent as token too" }),
    code: z.string().max(64).optional().openapi({ example: "DEVO-ALEX1234", description: "The ref query parameter" }),
    email: EmailSchema.optional().openapi({ example: "sam@example.com" }),
    referrerEmail: EmailSchema.optional().openapi({ example: "alex@example.com" }),
  })
  .openapi("Attribution", {
    example: {
      refereeId: "user_456",
      token: "eyJ2IjoxLCJjIjoiREVWTy1BTEVYMTIzNCJ9.kmhLaP7U1Mh9",
      code: "DEVO-ALEX1234",
      email: "sam@example.com",
    },
  });

const AttributionResponse = z
  .object({
    referral: ReferralSchema,
    rewards: z.array(RewardSchema),
    tokenStatus: z.enum(["valid", "missing", "malformed", "unknown_key", "tampered", "expired"]),
  })
  .openapi("AttributionResult", {
    example: { referral: examples.referral, rewards: [examples.reward], tokenStatus: "valid" },
  });

const attributeRoute = createRoute({
  method: "post",
  path: "/api/attributions",
  tags: ["attributions"],
  summary: "Attribute a new user to their referrer and grant both sides' rewards",
  security: [{ ApiKey: [] }],
  request: { body: { required: true, content: { "application/json": { schema: AttributionBody } } } },
  responses: {
    200: {
      description: "The referee was already attributed: the existing referral, nothing granted",
      content: { "application/json": { schema: AttributionResponse } },
    },
    201: {
      description: "Attributed; rewards granted",
      content: { "application/json": { schema: AttributionResponse } },
    },
    400: errorResponse("Invalid body, or neither a usable token nor a code"),
    401: errorResponse("Missing or wrong API key"),
    404: errorResponse("Unknown code"),
    422: errorResponse(
      "Refused as fraud (self_referral, same_email, same_visitor, or same_click: the click already referred its referee); recorded, nothing granted",
    ),
  },
});

export const attributions = createRouter().openapi(attributeRoute, async (c) => {
  const result = await attribute(
    { db: c.var.db, config: c.var.config, counters: c.env.CODE_COUNTER },
    c.req.valid("json"),
    Date.now(),
  );
  return c.json(
    {
      referral: referralJson(result.referral),
      rewards: result.rewards.map((row) => rewardJson(row)),
      tokenStatus: result.tokenStatus,
    },
    result.created ? 201 : 200,
  );
});
