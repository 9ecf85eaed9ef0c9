import { z } from "@hono/zod-openapi";

/** Response schemas shared by several routes. */

export const RewardSchema = z
  .object({
    id: z.string(),
    userId: z.string(),
    referralId: z.string().nullable(),
    type: z.string().openapi({ example: "extra_messages" }),
    amount: z.number().int().openapi({ example: 10 }),
    currency: z.string().nullable().openapi({ example: null }),
    feature: z.string().nullable().openapi({ example: null }),
    status: z.enum(["pending", "active", "redeemed", "expired", "revoked"]),
    rule: z.string().openapi({ example: "referrer-signup-messages" }),
    trigger: z.string().openapi({ example: "signup" }),
    triggerId: z.string().nullable(),
    validFrom: z.string(),
    validUntil: z.string().nullable(),
    createdAt: z.string(),
    redeemedAt: z.string().nullable(),
  })
  .openapi("Reward");

export const ReferralSchema = z
  .object({
    id: z.string(),
    code: z.string().openapi({ example: "DEVO-ALEX1234" }),
    referrerId: z.string(),
    refereeId: z.string(),
    clickId: z.string().nullable(),
    source: z.enum(["cookie", "code"]),
    status: z.enum(["signed_up", "converted"]),
    referrerRewarded: z.boolean(),
    signedUpAt: z.string(),
    convertedAt: z.string().nullable(),
  })
  .openapi("Referral");

export const EntitlementsSchema = z
  .object({
    extraMessages: z.number().int().openapi({ example: 15 }),
    extraRequests: z.number().int().openapi({ example: 7 }),
    creditCents: z.number().int().openapi({ example: 1000 }),
    features: z.array(z.object({ feature: z.string(), until: z.string().nullable() })),
    quantities: z.record(z.string(), z.number().int()),
  })
  .openapi("Entitlements");

export const UserIdParam = z.object({
  userId: z.string().min(1).max(128).openapi({ example: "user_123" }),
});
