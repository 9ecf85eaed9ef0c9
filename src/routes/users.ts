import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../errors";
import { createRouter, errorResponse } from "../openapi";
import { UserIdParam } from "../schemas";
import { eraseUser, exportUser } from "../services/privacy";

const exportRoute = createRoute({
  method: "get",
  path: "/api/users/{userId}/export",
  tags: ["privacy"],
  summary: "Everything stored about a user, as JSON (data access requests)",
  security: [{ ApiKey: [] }],
  request: { params: UserIdParam },
  responses: {
    200: {
      description: "The user's data: code, referrals, rewards, Stripe records, visitor hashes",
      content: { "application/json": { schema: z.record(z.string(), z.unknown()).openapi("UserExport") } },
    },
    401: errorResponse("Missing or wrong API key"),
    404: errorResponse("Nothing is stored about this user"),
  },
});

const eraseRoute = createRoute({
  method: "delete",
  path: "/api/users/{userId}",
  tags: ["privacy"],
  summary: "Erase a user's personal data, keeping the ledger's amounts and the counters",
  security: [{ ApiKey: [] }],
  request: { params: UserIdParam },
  responses: {
    200: {
      description: "Erased: the user's id is replaced everywhere by a tombstone, and their code by a fresh one",
      content: {
        "application/json": {
          schema: z
            .object({ tombstone: z.string(), erased: z.record(z.string(), z.number().int()) })
            .openapi("Erasure", {
              example: {
                tombstone: "erased:1f0c3a52-6a4b-4a8e-9d0c-2b7c1e5f4a90",
                erased: { code: 1, referralsMade: 3, referredBy: 1, rewards: 9, visitorHashes: 2, stripeCustomers: 1 },
              },
            }),
        },
      },
    },
    401: errorResponse("Missing or wrong API key"),
    404: errorResponse("Nothing is stored about this user (already erased, or never here)"),
  },
});

export const users = createRouter()
  .openapi(exportRoute, async (c) => {
    const data = await exportUser(c.var.db, c.req.valid("param").userId);
    if (!data) throw new ApiError(404, "user_not_found", "Nothing is stored about this user");
    return c.json(data as Record<string, unknown>, 200);
  })
  .openapi(eraseRoute, async (c) => {
    const deps = { db: c.var.db, counters: c.env.CODE_COUNTER, clickShards: c.var.config.clickShards };
    const result = await eraseUser(deps, c.req.valid("param").userId);
    if (!result) throw new ApiError(404, "user_not_found", "Nothing is stored about this user");
    return c.json(result, 200);
  });
