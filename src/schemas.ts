import { z } from "@hono/zod-openapi";
import { referralSources } from "./domain/attribution-source";

/** Examples shown in the docs; a test checks each one against its schema. */
export const examples = {
  reward: {
    id: "5b1f3c1e-8d2a-4c6b-9f0e-2a7d4e6b8c01",
    userId: "user_123",
    referralId: "0c9e6f4a-1b2d-4e3f-8a9b-7c6d5e4f3a21",
    type: "extra_messages",
    amount: 10,
    currency: null,
    feature: null,
    status: "active",
    rule: "referrer-signup-messages",
    trigger: "signup",
    triggerId: "0c9e6f4a-1b2d-4e3f-8a9b-7c6d5e4f3a21",
    validFrom: "2026-11-24T10:00:00.000Z",
    validUntil: "2026-12-24T10:00:00.000Z",
    createdAt: "2026-11-24T10:00:00.000Z",
    redeemedAt: null,
    availableAt: null,
    choices: null,
    chooseBy: null,
    choice: null,
    bundleOf: null,
  },
  referral: {
    id: "0c9e6f4a-1b2d-4e3f-8a9b-7c6d5e4f3a21",
    code: "DEVO-ALEX1234",
    referrerId: "user_123",
    refereeId: "user_456",
    clickId: "3abc2c51-c34b-4257-a938-64087e5e13da",
    source: "cookie",
    status: "signed_up",
    referrerRewarded: true,
    signedUpAt: "2026-11-24T10:00:00.000Z",
    convertedAt: null,
  },
  entitlements: {
    extraMessages: 10,
    extraRequests: 5,
    creditCents: 1000,
    features: [{ feature: "pro", until: "2026-12-01T10:00:00.000Z" }],
    quantities: { extra_messages: 10, extra_requests: 5 },
  },
} as const;

/** Response schemas shared by several routes. */

/** One reward an option grants, amounts and end date worked out. */
const OfferedRewardSchema = z.object({
  type: z.string().openapi({ example: "account_credit" }),
  amount: z.number().int().openapi({ example: 1000 }),
  currency: z.string().nullable(),
  feature: z.string().nullable(),
  validUntil: z.string().nullable(),
});

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
    availableAt: z
      .string()
      .nullable()
      .openapi({ description: "A pending reward waiting out its holding period becomes active at this time" }),
    choices: z
      .array(
        OfferedRewardSchema.extend({
          id: z.string().openapi({ example: "credit" }),
          label: z.string().nullable().openapi({ description: "What the referrer sees, when the rules name it" }),
          grants: z.array(OfferedRewardSchema).nullable().openapi({
            description:
              "A bundle: every reward the option grants at once (the fields beside `grants` describe its first); null for a single reward",
          }),
        }),
      )
      .nullable()
      .openapi({ description: "The options the referrer picks from (POST /api/rewards/{id}/choose); null if none" }),
    chooseBy: z
      .string()
      .nullable()
      .openapi({ description: "Unchosen by then, the first option is taken; null once chosen or without choices" }),
    choice: z.string().nullable().openapi({ description: "The option taken" }),
    bundleOf: z.string().nullable().openapi({
      description:
        "This entry is a further reward of the bundle chosen on that entry (which became the bundle's first); it is taken back with it",
    }),
  })
  .openapi("Reward", { example: examples.reward });

/** What choosing answers: the reward, now the chosen option, and for a bundle its further rewards. */
export const ChosenRewardSchema = RewardSchema.extend({
  bundle: z.array(RewardSchema).openapi({
    description: "The further entries a bundled option granted (its first reward is this entry); empty otherwise",
  }),
}).openapi("ChosenReward", {
  example: {
    ...examples.reward,
    status: "active",
    rule: "referrer-conversion-choice",
    trigger: "conversion",
    triggerId: "in_1QxYz2AbCdEf",
    choices: [
      {
        id: "credit",
        label: "$10 credit",
        type: "account_credit",
        amount: 1000,
        currency: "usd",
        feature: null,
        validUntil: null,
        grants: null,
      },
      {
        id: "usage",
        label: "50 messages + 25 requests",
        type: "extra_messages",
        amount: 50,
        currency: null,
        feature: null,
        validUntil: "2027-02-24T10:00:00.000Z",
        grants: [
          { type: "extra_messages", amount: 50, currency: null, feature: null, validUntil: "2027-02-24T10:00:00.000Z" },
          { type: "extra_requests", amount: 25, currency: null, feature: null, validUntil: "2027-02-24T10:00:00.000Z" },
        ],
      },
    ],
    amount: 50,
    validUntil: "2027-02-24T10:00:00.000Z",
    choice: "usage",
    bundle: [
      {
        ...examples.reward,
        id: "9d2e7a40-3c1b-4f5e-8a6d-1b0c9e8f7a65",
        type: "extra_requests",
        amount: 25,
        status: "active",
        rule: "referrer-conversion-choice",
        trigger: "conversion",
        triggerId: "in_1QxYz2AbCdEf",
        validUntil: "2027-02-24T10:00:00.000Z",
        bundleOf: "5b1f3c1e-8d2a-4c6b-9f0e-2a7d4e6b8c01",
      },
    ],
  },
});

export const ChooseSchema = z
  .object({ choice: z.string().min(1).max(64).openapi({ example: "credit" }) })
  .strict()
  .openapi("Choice", { example: { choice: "credit" } });

export const ReferralSchema = z
  .object({
    id: z.string(),
    code: z.string().openapi({ example: "DEVO-ALEX1234" }),
    referrerId: z.string(),
    refereeId: z.string(),
    clickId: z.string().nullable(),
    source: z.enum(referralSources).openapi({
      description: "The carrier that won: cookie, url (the click in the signup URL), promotion_code, code, email_match",
    }),
    status: z.enum(["signed_up", "converted"]),
    referrerRewarded: z.boolean(),
    signedUpAt: z.string(),
    convertedAt: z.string().nullable(),
  })
  .openapi("Referral", { example: examples.referral });

export const EntitlementsSchema = z
  .object({
    extraMessages: z.number().int().openapi({ example: 15 }),
    extraRequests: z.number().int().openapi({ example: 7 }),
    creditCents: z.number().int().openapi({ example: 1000 }),
    features: z.array(z.object({ feature: z.string(), until: z.string().nullable() })),
    quantities: z.record(z.string(), z.number().int()),
  })
  .openapi("Entitlements", { example: examples.entitlements });

/**
 * An email address as browsers' `<input type="email">` accept it (the WHATWG
 * rule), so whatever the host product's signup form took is taken here too.
 */
export const EmailSchema = z
  .email({ pattern: z.regexes.html5Email, error: "not an email address" })
  .max(254)
  .openapi({ example: "alex@example.com" });

export const UserIdParam = z.object({
  userId: z.string().min(1).max(128).openapi({ example: "user_123" }),
});
