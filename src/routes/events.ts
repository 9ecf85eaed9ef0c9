import { createRoute, z } from "@hono/zod-openapi";
import { listEvents } from "../db/queries/outbox";
import { outboxEventTypes } from "../db/schema";
import { createRouter, errorResponse } from "../openapi";

const EventSchema = z
  .object({
    id: z.string(),
    sequence: z.number().int().openapi({
      description:
        "Commit order: strictly increasing, never reused. Delivery usually follows it; a retried event can arrive after later ones, so reorder by it.",
    }),
    type: z.enum(outboxEventTypes),
    createdAt: z.string(),
    data: z.record(z.string(), z.unknown()),
    delivery: z.object({
      state: z.enum(["pending", "delivered", "failing"]),
      attempts: z.number().int(),
      deliveredAt: z.string().nullable(),
      nextAttemptAt: z.string().nullable(),
      lastStatus: z.number().int().nullable(),
      lastError: z.string().nullable(),
    }),
  })
  .openapi("OutboundEvent", {
    example: {
      id: "evt_4f1c2b3a9d8e7f6a5b4c3d2e1f0a9b8c",
      sequence: 1042,
      type: "reward.granted",
      createdAt: "2026-11-24T10:00:00.120Z",
      data: {
        rewardId: "5b1f3c1e-8d2a-4c6b-9f0e-2a7d4e6b8c01",
        userId: "user_123",
        type: "extra_messages",
        amount: 10,
      },
      delivery: {
        state: "delivered",
        attempts: 3,
        deliveredAt: "2026-11-24T10:01:31.004Z",
        nextAttemptAt: null,
        lastStatus: 200,
        lastError: null,
      },
    },
  });

const listRoute = createRoute({
  method: "get",
  path: "/api/events",
  tags: ["events"],
  summary: "The outbound event log and each event's delivery to EVENTS_URL, newest first",
  security: [{ ApiKey: [] }],
  request: {
    query: z.object({
      state: z.enum(["pending", "delivered", "failing"]).optional(),
      cursor: z
        .string()
        .max(15)
        .regex(/^\d{1,15}$/)
        .optional()
        .openapi({ description: "nextCursor of the previous page" }),
      limit: z.coerce.number().int().min(1).max(200).default(50),
    }),
  },
  responses: {
    200: {
      description: "One page of events",
      content: {
        "application/json": {
          schema: z.object({ events: z.array(EventSchema), nextCursor: z.string().nullable() }).openapi("EventPage"),
        },
      },
    },
    400: errorResponse("Bad state, cursor or limit"),
    401: errorResponse("Missing or wrong API key"),
  },
});

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

export const events = createRouter().openapi(listRoute, async (c) => {
  const { state, cursor, limit } = c.req.valid("query");
  const rows = await listEvents(c.var.db, limit + 1, cursor === undefined ? undefined : Number(cursor), state);
  const page = rows.slice(0, limit);
  return c.json(
    {
      events: page.map((row) => ({
        id: row.id,
        sequence: row.sequence,
        type: row.type,
        createdAt: new Date(row.createdAt).toISOString(),
        data: JSON.parse(row.payload) as Record<string, unknown>,
        delivery: {
          state:
            row.deliveredAt !== null
              ? ("delivered" as const)
              : row.attempts > 0
                ? ("failing" as const)
                : ("pending" as const),
          attempts: row.attempts,
          deliveredAt: iso(row.deliveredAt),
          nextAttemptAt: row.deliveredAt === null ? iso(row.nextAttemptAt) : null,
          lastStatus: row.lastStatus,
          lastError: row.lastError,
        },
      })),
      nextCursor: rows.length > limit ? String(page.at(-1)?.sequence) : null,
    },
    200,
  );
});
