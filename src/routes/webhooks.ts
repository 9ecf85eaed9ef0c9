import { createRoute, z } from "@hono/zod-openapi";
import { createDb } from "../db/client";
import { ApiError } from "../errors";
import { createRouter, errorResponse } from "../openapi";
import { fulfilCredits } from "../services/fulfilment";
import { processStripeEvent } from "../services/stripe-events";
import { stripeClient, verifyStripeEvent } from "../stripe/client";

const stripeWebhookRoute = createRoute({
  method: "post",
  path: "/webhooks/stripe",
  tags: ["webhooks"],
  summary: "Stripe events: conversions, revenue, clawbacks",
  description:
    "Point a Stripe webhook endpoint here with checkout.session.completed, invoice.paid, charge.succeeded, " +
    "charge.refunded, charge.dispute.created, charge.dispute.closed and customer.subscription.deleted. The raw body is verified " +
    "against STRIPE_WEBHOOK_SECRETS (Stripe-Signature, 300 s tolerance). Each event applies exactly once, in any order.",
  request: {
    headers: z.object({
      "stripe-signature": z
        .string()
        .optional()
        .openapi({ example: "t=1764000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd" }),
    }),
  },
  responses: {
    200: {
      description:
        "Received (also for replays and for events that need nothing). `unprocessable`: signed, but its object " +
        "lacks or mistypes a field the service reads; kept for the operator with the reason, nothing else written. " +
        "`refused`: a checkout's promotion code or click would have referred its own owner (or the same email, " +
        "browser or used-up click); recorded as a refused attribution, nothing granted.",
      content: {
        "application/json": {
          schema: z.object({
            received: z.literal(true),
            outcome: z.enum([
              "duplicate",
              "ignored",
              "deferred",
              "unresolved",
              "not_referred",
              "applied",
              "refused",
              "unprocessable",
            ]),
          }),
        },
      },
    },
    400: errorResponse("Missing, wrong or stale signature, or a body that is not an event; nothing written"),
    500: errorResponse("A failure while applying: nothing was written, Stripe retries"),
    503: errorResponse("Webhooks are not configured, or too much contention: Stripe retries"),
  },
});

export const webhooks = createRouter().openapi(stripeWebhookRoute, async (c) => {
  const config = c.var.config;
  const event = await verifyStripeEvent(await c.req.text(), c.req.header("stripe-signature"), config);
  const body: Partial<typeof event> | null = event;
  if (
    typeof body !== "object" ||
    body === null ||
    typeof body.id !== "string" ||
    typeof body.type !== "string" ||
    typeof body.data?.object !== "object"
  ) {
    throw new ApiError(400, "invalid_event", "The body is not a Stripe event");
  }
  const deps = { db: createDb(c.env.DB), config, stripe: stripeClient(config) };
  const result = await processStripeEvent(deps, event, Date.now());
  if (result.referrerId && deps.stripe) {
    // Apply any new credit off the response path; the cron retries what fails.
    c.executionCtx.waitUntil(fulfilCredits(deps, Date.now(), result.referrerId).catch(() => undefined));
  }
  return c.json({ received: true as const, outcome: result.outcome }, 200);
});
