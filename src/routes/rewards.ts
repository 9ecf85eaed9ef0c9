import { createRoute, z } from "@hono/zod-openapi";
import { createRouter, errorResponse } from "../openapi";
import { ChooseSchema, ChosenRewardSchema, EntitlementsSchema, examples, RewardSchema, UserIdParam } from "../schemas";
import { choose, chosenJson, entitlementsOf, redeem, rewardJson, rewardPage } from "../services/rewards";

const listRoute = createRoute({
  method: "get",
  path: "/api/users/{userId}/rewards",
  tags: ["rewards"],
  summary: "A user's reward ledger, newest first",
  security: [{ ApiKey: [] }],
  request: {
    params: UserIdParam,
    query: z.object({
      cursor: z.string().max(200).optional().openapi({ description: "nextCursor of the previous page" }),
      limit: z.coerce.number().int().min(1).max(100).default(20),
    }),
  },
  responses: {
    200: {
      description: "One page of entries",
      content: {
        "application/json": {
          schema: z
            .object({ rewards: z.array(RewardSchema), nextCursor: z.string().nullable() })
            .openapi("RewardPage", { example: { rewards: [examples.reward], nextCursor: "MTc2NDAwMDAwMDAwMDo1YjFm" } }),
        },
      },
    },
    400: errorResponse("Bad cursor or limit"),
    401: errorResponse("Missing or wrong API key"),
  },
});

const entitlementsRoute = createRoute({
  method: "get",
  path: "/api/users/{userId}/entitlements",
  tags: ["rewards"],
  summary: "What the user's rewards give them right now: the figures to apply to quotas",
  security: [{ ApiKey: [] }],
  request: { params: UserIdParam },
  responses: {
    200: { description: "Entitlements in force", content: { "application/json": { schema: EntitlementsSchema } } },
    401: errorResponse("Missing or wrong API key"),
  },
});

const redeemRoute = createRoute({
  method: "post",
  path: "/api/rewards/{id}/redeem",
  tags: ["rewards"],
  summary: "Mark an active reward redeemed (idempotent)",
  security: [{ ApiKey: [] }],
  request: { params: z.object({ id: z.uuid().max(36).openapi({ example: "5b1f3c1e-8d2a-4c6b-9f0e-2a7d4e6b8c01" }) }) },
  responses: {
    200: { description: "The redeemed reward", content: { "application/json": { schema: RewardSchema } } },
    401: errorResponse("Missing or wrong API key"),
    404: errorResponse("No such reward"),
    409: errorResponse("The reward is pending, expired or revoked"),
  },
});

/** What both ways to choose (API key here, widget token in widgets.ts) take and answer alike. */
export const chooseRequest = {
  params: z.object({ id: z.uuid().max(36).openapi({ example: "5b1f3c1e-8d2a-4c6b-9f0e-2a7d4e6b8c01" }) }),
  body: { content: { "application/json": { schema: ChooseSchema } }, required: true },
};
export const chooseAnswers = {
  200: {
    description:
      "The reward, now the chosen option. A bundled option grants several rewards at once: this entry becomes its first, and `bundle` lists the entries of the others, granted in the same batch, exactly once",
    content: { "application/json": { schema: ChosenRewardSchema } },
  },
  400: errorResponse("The choice is not one of the reward's options"),
  409: errorResponse("Another option was already taken, the reward offers no choice, or it was revoked or expired"),
  503: errorResponse("Too many concurrent changes to the reward's referral; try again"),
};

const chooseRoute = createRoute({
  method: "post",
  path: "/api/rewards/{id}/choose",
  tags: ["rewards"],
  summary:
    "Take one of the options of a reward that offers a choice, a single reward or a bundle (once; the same choice again is a no-op)",
  security: [{ ApiKey: [] }],
  request: chooseRequest,
  responses: {
    ...chooseAnswers,
    401: errorResponse("Missing or wrong API key"),
    404: errorResponse("No such reward"),
  },
});

export const rewards = createRouter()
  .openapi(listRoute, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    return c.json(await rewardPage(c.var.db, c.req.valid("param").userId, limit, cursor), 200);
  })
  .openapi(entitlementsRoute, async (c) =>
    c.json(await entitlementsOf({ db: c.var.db, config: c.var.config }, c.req.valid("param").userId, Date.now()), 200),
  )
  .openapi(redeemRoute, async (c) =>
    c.json(rewardJson(await redeem(c.var.db, c.req.valid("param").id, Date.now())), 200),
  )
  .openapi(chooseRoute, async (c) => {
    const now = Date.now();
    return c.json(
      chosenJson(await choose(c.var.db, c.req.valid("param").id, c.req.valid("json").choice, now), now),
      200,
    );
  });
