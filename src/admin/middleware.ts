import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { NONCE, secureHeaders } from "hono/secure-headers";
import { createDb } from "../db/client";
import type { AppEnv } from "../env";
import type { ErrorBody } from "../errors";
import { csrfMatches, csrfToken, type Operator, openSession, SESSION_COOKIE, verifyAccessAssertion } from "./auth";

/** The Hono environment of /admin: the app's, plus the page nonce and, once signed in, the operator. */
export type AdminEnv = {
  Bindings: AppEnv["Bindings"];
  Variables: AppEnv["Variables"] & { nonce: string; operator: Operator; csrf: string };
};

const error = (code: string, message: string): ErrorBody => ({ error: { code, message } });

/**
 * The console's headers: a nonce'd inline stylesheet, nothing external, never
 * framed, never a Referer to anywhere. Only these: Hono's other defaults
 * (HSTS, COOP, CORP, ...) are off, so the console answers as it always has.
 */
const consoleSecureHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    styleSrc: [NONCE],
    scriptSrc: [NONCE],
    imgSrc: ["'self'"],
    formAction: ["'self'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
  },
  referrerPolicy: "no-referrer",
  xFrameOptions: "DENY",
  crossOriginResourcePolicy: false,
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  strictTransportSecurity: false,
  xContentTypeOptions: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
});

/** Every /admin response: a fresh nonce, the console's headers, never cached. */
export const consoleHeaders = createMiddleware<AdminEnv>(async (c, next) => {
  // NONCE reuses a nonce already set, so the console keeps its 32 hex digits.
  const nonce = crypto.randomUUID().replace(/-/g, "");
  c.set("secureHeadersNonce", nonce);
  c.set("nonce", nonce);
  c.set("db", createDb(c.env.DB));
  await consoleSecureHeaders(c, async () => {
    await next();
    c.res.headers.set("Cache-Control", "no-store");
  });
});

/** The console needs a way in: admin keys, or Cloudflare Access. */
export const consoleEnabled = createMiddleware<AdminEnv>(async (c, next) => {
  const config = c.var.config;
  if (config.adminKeys.length === 0 && !config.access) {
    return c.json(
      error("console_disabled", "The console is off: set ADMIN_KEYS, or ACCESS_TEAM_DOMAIN and ACCESS_AUD"),
      503,
    );
  }
  await next();
});

/** Where a signed-out browser goes; API-style callers get the error envelope. */
function refuse(c: Context<AdminEnv>, message: string) {
  const browserPage =
    (c.req.method === "GET" || c.req.method === "HEAD") && !(c.req.header("accept") ?? "").includes("application/json");
  if (browserPage && !c.var.config.access) return c.redirect("/admin/login", 303);
  return c.json(error("unauthorized", message), 401);
}

/**
 * Who is asking. With Access configured, only a valid assertion counts (a
 * session cookie is ignored); otherwise the signed session cookie.
 */
export const requireOperator = createMiddleware<AdminEnv>(async (c, next) => {
  const config = c.var.config;
  let operator: Operator | null;
  if (config.access) {
    operator = await verifyAccessAssertion(config.access, c.req.header("cf-access-jwt-assertion"));
    if (!operator) return refuse(c, "A valid Cloudflare Access assertion is required");
  } else {
    operator = await openSession(config, getCookie(c, SESSION_COOKIE), Date.now());
    if (!operator) return refuse(c, "Sign in at /admin/login first");
  }
  c.set("operator", operator);
  c.set("csrf", await csrfToken(config, operator));
  await next();
});

/** A state-changing request must carry the CSRF token of its operator's session, or nothing happens. */
export const requireCsrf = createMiddleware<AdminEnv>(async (c, next) => {
  if (c.req.method === "GET" || c.req.method === "HEAD") return next();
  const type = c.req.header("content-type") ?? "";
  let candidate: unknown;
  if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)) {
    candidate = (await c.req.parseBody())._csrf;
  } else {
    candidate = c.req.header("x-csrf-token");
  }
  if (!(await csrfMatches(c.var.config, c.var.operator, candidate))) {
    return c.json(error("csrf_invalid", "The form's CSRF token is missing or wrong: reload the page and retry"), 403);
  }
  await next();
});
