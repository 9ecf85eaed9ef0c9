import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { routePath } from "hono/route";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ConfigError, getConfig } from "./config";
import { createDb } from "./db/client";
import { docsPage } from "./docs/reference";
import { outboxStub } from "./durable-objects/event-outbox";
import type { AppEnv } from "./env";
import { ApiError, type ErrorBody } from "./errors";
import { describeError } from "./log";
import { requireApiKey } from "./middleware/api-key";
import { credentialKey, jsonBody, rateLimit, securityHeaders } from "./middleware/limits";
import { createRouter } from "./openapi";
import { admin } from "./routes/admin";
import { attributions } from "./routes/attributions";
import { clickLog } from "./routes/clicks";
import { codes } from "./routes/codes";
import { events } from "./routes/events";
import { health } from "./routes/health";
import { redirect } from "./routes/redirect";
import { rewards } from "./routes/rewards";
import { stats } from "./routes/stats";
import { users } from "./routes/users";
import { webhooks } from "./routes/webhooks";
import { widgets } from "./routes/widgets";

/** API bodies are small JSON objects; Stripe events can be large. */
const API_BODY_LIMIT = 16 * 1024;
const WEBHOOK_BODY_LIMIT = 512 * 1024;

const HTTP_ERROR_CODES: Record<number, string> = {
  400: "invalid_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
};

const app = createRouter();

app.use("*", securityHeaders, async (c, next) => {
  c.set("config", getConfig(c.env));
  await next();
});
app.use(
  "/api/*",
  requireApiKey,
  rateLimit(
    (env) => env.API_LIMITER,
    (c) => credentialKey(c.req.header("authorization")),
  ),
  jsonBody(API_BODY_LIMIT),
  async (c, next) => {
    c.set("db", createDb(c.env.DB));
    await next();
  },
);
app.use(
  "/api/attributions",
  rateLimit(
    (env) => env.ATTRIBUTION_LIMITER,
    (c) => credentialKey(c.req.header("authorization")),
  ),
);
app.use("/webhooks/*", jsonBody(WEBHOOK_BODY_LIMIT));

/** A write that succeeded may have put events in the outbox: let its deliverer know. */
const notifyOutbox = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  if (c.req.method !== "GET" && c.req.method !== "HEAD" && c.res.status < 300) {
    c.executionCtx.waitUntil(
      outboxStub(c.env.EVENT_OUTBOX)
        .poke()
        .catch((error) => console.warn(`could not wake the event outbox; the cron will: ${describeError(error)}`)),
    );
  }
});
app.use("/api/*", notifyOutbox);
app.use("/webhooks/*", notifyOutbox);

app.openAPIRegistry.registerComponent("securitySchemes", "ApiKey", {
  type: "http",
  scheme: "bearer",
  description: "An API key from API_KEYS: for the host product's backend only",
});
app.openAPIRegistry.registerComponent("securitySchemes", "WidgetToken", {
  type: "http",
  scheme: "bearer",
  description: "A widget token from POST /api/widget-tokens: one user's browser, for an hour",
});

const routes = app
  .route("/", health)
  .route("/", redirect)
  .route("/", codes)
  .route("/", attributions)
  .route("/", rewards)
  .route("/", webhooks)
  .route("/", stats)
  .route("/", clickLog)
  .route("/", users)
  .route("/", events)
  .route("/", widgets);

// The operator's console: HTML pages with their own auth, outside the typed API.
app.route("/admin", admin);

const DOCUMENT_INFO = {
  title: "referral-edge",
  version: "1.0.0",
  description:
    "Share links that count and attribute, signups rewarded from a ledger, Stripe conversions and clawbacks, and stats for dashboards.",
};

/** The OpenAPI 3.1 document of every route above, served by the app itself. */
function openApiDocument(origin: string) {
  return app.getOpenAPI31Document({ openapi: "3.1.0", info: DOCUMENT_INFO, servers: [{ url: origin }] });
}

app.openapi(
  createRoute({
    method: "get",
    path: "/openapi.json",
    tags: ["docs"],
    summary: "This API as an OpenAPI 3.1 document",
    responses: {
      200: {
        description: "The document",
        content: { "application/json": { schema: z.record(z.string(), z.unknown()) } },
      },
    },
  }),
  (c) => c.json(openApiDocument(new URL(c.req.url).origin) as unknown as Record<string, unknown>, 200),
);
app.openapi(
  createRoute({
    method: "get",
    path: "/docs",
    tags: ["docs"],
    summary: "This API as a readable page",
    description:
      "The interactive reference (Scalar), its script served by this Worker; without JavaScript, the same reference as plain HTML.",
    responses: { 200: { description: "The page", content: { "text/html": { schema: z.string() } } } },
  }),
  (c) => docsPage(c, openApiDocument(new URL(c.req.url).origin) as unknown as Record<string, unknown>),
);

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

/** The methods some route answers on this path (HEAD wherever GET is, as Hono serves it). */
function allowedMethods(path: string): string[] {
  const routed = (method: string) =>
    app.router.match(method === "HEAD" ? "GET" : method, path)[0].some(([[, route]]) => route.method !== "ALL");
  return METHODS.filter(routed);
}

app.notFound((c) => {
  const allowed = allowedMethods(c.req.path);
  if (allowed.length > 0) {
    c.header("Allow", allowed.join(", "));
    return c.json<ErrorBody>(
      {
        error: {
          code: "method_not_allowed",
          message: `${c.req.method} is not supported on ${c.req.path}; use ${allowed.join(", ")}`,
        },
      },
      405,
    );
  }
  return c.json<ErrorBody>(
    { error: { code: "not_found", message: `No route for ${c.req.method} ${c.req.path}` } },
    404,
  );
});

app.onError((error, c) => {
  if (error instanceof ApiError) return c.json(error.body, error.status);
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    const code =
      status === 400 && /JSON/i.test(error.message) ? "invalid_json" : (HTTP_ERROR_CODES[status] ?? "http_error");
    return c.json<ErrorBody>({ error: { code, message: error.message || "Request refused" } }, status);
  }
  if (error instanceof ConfigError) {
    console.error(error.message);
    return c.json<ErrorBody>({ error: { code: "misconfigured", message: error.message } }, 500);
  }
  // The route's pattern, not its path: paths carry user ids and codes.
  console.error(`unhandled error on ${c.req.method} ${routePath(c, -1)}: ${describeError(error)}`);
  return c.json<ErrorBody>({ error: { code: "internal_error", message: "Something went wrong on our side" } }, 500);
});

/** The app's type, for a type-safe `hono/client` in the host product's backend. */
export type AppType = typeof routes;
export { app };
