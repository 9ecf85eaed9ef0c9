import { OpenAPIHono, type OpenAPIHonoOptions, type RouteConfig, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { routePath } from "hono/route";
import { findBadText, strictlyDecoded } from "./domain/text";
import type { AppEnv } from "./env";
import { ApiError } from "./errors";

/** The error envelope as a schema, shared by every route's error responses. */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "invalid_request" }),
      message: z.string().openapi({ example: "userId: expected a string" }),
      field: z.string().optional().openapi({ example: "userId" }),
    }),
  })
  .openapi("Error");

export const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorSchema } },
});

type ValidationResult = Parameters<NonNullable<OpenAPIHonoOptions<AppEnv>["defaultHook"]>>[0];

const refused = (field: string, problem: string) => new ApiError(400, "invalid_request", `${field}: ${problem}`, field);

/** The first query parameter whose raw name or value does not decode as UTF-8. */
function undecodableQuery(url: string): string | undefined {
  const search = new URL(url).search.slice(1);
  for (const pair of search ? search.split("&") : []) {
    const [rawKey = "", ...rest] = pair.split("=");
    const key = strictlyDecoded(rawKey.replace(/\+/g, " "));
    if (key === undefined) return rawKey;
    if (strictlyDecoded(rest.join("=").replace(/\+/g, " ")) === undefined) return key;
  }
  return undefined;
}

/** The first path parameter of the matched route whose raw segment does not decode as UTF-8. */
function undecodableParam(c: Context): string | undefined {
  const pattern = routePath(c).split("/");
  const segments = new URL(c.req.url).pathname.split("/");
  for (const [i, part] of pattern.entries()) {
    if (!part.startsWith(":")) continue;
    if (strictlyDecoded(segments[i] ?? "") === undefined) return part.slice(1).replace(/\{.*$|\?$/, "");
  }
  return undefined;
}

/**
 * Why a request's input is refused, naming the field, or undefined when it
 * is not. The one place every route's body, query and path parameters pass:
 * first the route's schema, then the text rules no string may break (see
 * domain/text.ts). Headers are left to their routes (the Stripe webhook
 * verifies its own).
 */
export function inputProblem(result: ValidationResult, c: Context): ApiError | undefined {
  if (!result.success) {
    const issue = result.error.issues[0];
    if (!issue) return new ApiError(400, "invalid_request", "Invalid request");
    if (issue.code === "unrecognized_keys") {
      const field = [...issue.path, issue.keys[0] ?? ""].join(".");
      return refused(field, result.target === "query" ? "not a parameter of this route" : "not a field of this body");
    }
    const field = issue.path.length > 0 ? issue.path.join(".") : undefined;
    return new ApiError(400, "invalid_request", `${field ? `${field}: ` : ""}${issue.message}`, field);
  }
  if (result.target !== "json" && result.target !== "query" && result.target !== "param") return undefined;
  const undecodable =
    result.target === "query"
      ? undecodableQuery(c.req.url)
      : result.target === "param"
        ? undecodableParam(c)
        : undefined;
  if (undecodable !== undefined) return refused(undecodable, "is not well-formed UTF-8");
  const bad = findBadText(result.data);
  return bad ? refused(bad.path.join(".") || result.target, bad.problem) : undefined;
}

/**
 * Routes called with a credential are called by programs: an unknown query
 * parameter there is a mistake worth a 400 that names it (their bodies are
 * `z.strictObject`s for the same reason). Routes without one (share links,
 * the embeddable card, pages, health, webhooks) are loaded by browsers,
 * crawlers, monitors and Stripe, which add parameters of their own
 * (`utm_source`, `fbclid`, cache-busters): those ignore what they do not know.
 */
function withStrictQuery<R extends RouteConfig>(route: R): R {
  if (!route.security || route.security.length === 0) return route;
  const query = route.request?.query ?? z.object({});
  // Left as declared when it says otherwise (`z.looseObject`, `.catchall()`).
  if (!(query instanceof z.ZodObject) || query._zod.def.catchall !== undefined) return route;
  return { ...route, request: { ...route.request, query: query.strict() } };
}

/** `get /api/users/{userId}/rewards` → `getApiUsersUserIdRewards`: unique per operation, stable. */
export function operationIdOf(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method.toLowerCase() + words.map((word) => word[0]?.toUpperCase() + word.slice(1)).join("");
}

/**
 * Declares the answers every route shares, so the document lists every status
 * an operation can return (test/routes/openapi.test.ts provokes each one):
 * 400 wherever an input is validated (path, query or body; a route with its
 * own hook answers its own way), 401 and 429 behind a credential, 413 and 415
 * wherever a body is read, 500 everywhere (a misconfigured deployment answers
 * it on every route). Routes keep what they declare themselves. Operations
 * get an operationId, and public ones say so with `security: []`.
 */
function withDocumentedAnswers<R extends RouteConfig>(route: R, ownHook: boolean): R {
  const secured = (route.security?.length ?? 0) > 0;
  const request = route.request;
  const validated = !ownHook && Boolean(request?.params || request?.query || request?.body || request?.headers);
  const readsBody = route.method !== "get" && route.method !== "head" && route.method !== "options";
  const shared: RouteConfig["responses"] = {
    ...(validated ? { 400: errorResponse("An input is malformed or not allowed: `field` names it") } : {}),
    ...(secured
      ? {
          401: errorResponse("Missing or invalid credential"),
          429: errorResponse("Over the credential's rate limit: retry after `Retry-After` seconds"),
        }
      : {}),
    ...(readsBody
      ? {
          413: errorResponse("The body is larger than the route accepts"),
          415: errorResponse("The body is not application/json"),
        }
      : {}),
    500: errorResponse("The deployment is misconfigured (`misconfigured`, naming the setting) or failed"),
  };
  return {
    ...route,
    operationId: route.operationId ?? operationIdOf(route.method, route.path),
    security: route.security ?? [],
    responses: { ...shared, ...route.responses },
  };
}

/**
 * A router whose validation failures leave as the error envelope, naming the
 * first offending field, and whose authenticated routes refuse unknown query
 * parameters. Every route file builds on this.
 */
export function createRouter<E extends AppEnv = AppEnv>() {
  const router = new OpenAPIHono<E>({
    defaultHook: (result, c) => {
      const problem = inputProblem(result, c);
      if (problem) throw problem;
    },
  });
  const openapi = router.openapi;
  router.openapi = ((route, handler, hook) =>
    openapi(withDocumentedAnswers(withStrictQuery(route), hook !== undefined), handler, hook)) as typeof openapi;
  return router;
}
