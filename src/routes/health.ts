import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../openapi";

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  tags: ["operations"],
  summary: "Liveness: the Worker is up and its configuration parses",
  responses: {
    200: {
      description: "The service is up",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }) } },
    },
  },
});

export const health = createRouter().openapi(healthRoute, (c) => c.json({ status: "ok" as const }, 200));
