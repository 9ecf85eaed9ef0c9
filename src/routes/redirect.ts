import { createRoute, z } from "@hono/zod-openapi";
import { type Config, getConfig } from "../config";
import { createDb } from "../db/client";
import { backlogClicks } from "../db/queries/click-backlog";
import { signAttributionToken, signUrlAttributionToken, verifyAttributionToken } from "../domain/attribution-token";
import { agentFamily, clientKey, isAutomated, referrerHost, shardFor, visitorHash } from "../domain/visitor";
import { createRouter, inputProblem } from "../openapi";
import { codeStatus, queueClick } from "../services/clicks";

const shareLinkRoute = createRoute({
  method: "get",
  path: "/r/{code}",
  tags: ["share links"],
  summary: "Follow a share link: count the click, set the attribution cookie, redirect to signup",
  description:
    "Always answers 302 to the configured signup URL, at once: nothing is awaited before the answer. A well-formed code " +
    "adds `ref=CODE` and, for a person's browser, a signed `ref_token` cookie; a cookie already held for another code is " +
    "kept when the code is not known to exist yet (a typo never displaces a real referral). Bots, link previews and " +
    "HEAD requests are redirected without a cookie and counted apart. Clicks of codes that do not exist are never counted.",
  request: { params: z.object({ code: z.string().max(64).openapi({ example: "DEVO-ALEX1234" }) }) },
  responses: {
    302: {
      description: "Redirect to the signup page",
      headers: z.object({
        location: z.string().openapi({ example: "https://app.example.com/signup?ref=DEVO-ALEX1234" }),
        "set-cookie": z.string().optional(),
      }),
    },
  },
});

/**
 * The share link's path, matched before the general router: `/r/` and one
 * segment that has a code's shape (the shape of domain/codes.ts, either case).
 * Anything else (other methods, extra segments, odd characters) goes through
 * the router as before and ends as a plain redirect, a 404 or a 405.
 */
const SHARE_LINK = /^\/r\/([A-Za-z0-9]{1,12}-[A-Za-z0-9]{4,8})$/;

/** The code of a share-link request the fast path answers, or null when the router should. */
export function shareLinkCode(request: Request): string | null {
  if (request.method !== "GET" && request.method !== "HEAD") return null;
  const url = request.url;
  // The path starts after the origin's "//host"; a share link's URL is short and plain.
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return null;
  let end = url.indexOf("?", start);
  if (end < 0) end = url.indexOf("#", start);
  const match = SHARE_LINK.exec(end < 0 ? url.slice(start) : url.slice(start, end));
  return match?.[1] ? match[1].toUpperCase() : null;
}

/** The value of one cookie in a Cookie header, or undefined. */
function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

function attributionCookie(config: Config, token: string): string {
  const domain = config.cookieDomain ? `; Domain=${config.cookieDomain}` : "";
  return `${config.cookieName}=${token}; Max-Age=${Math.floor(config.attributionWindowMs / 1000)}${domain}; Path=/; HttpOnly; Secure; SameSite=Lax`;
}

/**
 * Whether a new click's token may replace the valid one the browser holds.
 * The newer click wins when this isolate knows its code exists. When the
 * isolate has no word on the new code, the held token wins, unless its own
 * code is known not to exist: so a typo or a deleted code never displaces a
 * real referral, at the price that a second real code this isolate has not
 * seen yet does not displace the first (see docs/hot-path.md).
 */
async function mayReplaceHeld(config: Config, cookies: string | null, code: string, now: number): Promise<boolean> {
  const held = await verifyAttributionToken(
    readCookie(cookies, config.cookieName),
    config.attributionKeys,
    now,
    config.attributionWindowMs,
  );
  if (held.status !== "valid" || held.claims.code === code) return true;
  return codeStatus(held.claims.code, now) === "unknown";
}

/** The headers every share-link answer carries, also from the router (see app.ts's securityHeaders). */
function redirectTo(location: string, cookie?: string): Response {
  const headers = new Headers({
    Location: location,
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
  });
  if (cookie) headers.set("Set-Cookie", cookie);
  return new Response(null, { status: 302, headers });
}

/**
 * Answers a share link after pure computation only (bot check, visitor hash,
 * token signing): the click goes to its counter from `waitUntil`, and the
 * counter decides whether it counts (the code exists, the visitor is within
 * the click budget). The destination is the configured signup page, never
 * taken from the request: no open redirect.
 */
export async function followShareLink(
  request: Request,
  env: Env,
  ctx: { waitUntil(promise: Promise<unknown>): void },
  code: string,
  config: Config = getConfig(env),
): Promise<Response> {
  const now = Date.now();
  const location = new URL(config.signupUrl);
  const status = codeStatus(code, now);
  // A code this isolate knows does not exist gets a plain redirect: nothing to credit.
  if (status !== "unknown") {
    location.searchParams.set("ref", code);
    // The referee's discount: the host's Checkout can pre-apply the promotion code named like the code.
    if (config.refereeCoupon && config.stripeSecretKey) location.searchParams.set("promo", code);
  }

  const userAgent = request.headers.get("user-agent") ?? "";
  const ip = request.headers.get("cf-connecting-ip") ?? "";
  const automated = isAutomated(request.method, userAgent);
  const visitor = await visitorHash(config.visitorSalt, now, ip, userAgent);
  const clickId = crypto.randomUUID();

  let cookie: string | undefined;
  if (
    !automated &&
    status !== "unknown" &&
    (status === "exists" || (await mayReplaceHeld(config, request.headers.get("cookie"), code, now)))
  ) {
    const claims = { code, clickId, issuedAt: now, visitorHash: visitor };
    cookie = attributionCookie(config, await signAttributionToken(claims, config.signingKey));
    // The click also travels in the URL, for a signup app the cookie does not reach (another
    // domain, an in-app browser). Only with a new cookie: where the held cookie is kept, a URL
    // token for this click would be the newer click and displace it at attribution.
    if (config.attributionUrlParam) {
      location.searchParams.set(config.attributionUrlParam, await signUrlAttributionToken(claims, config.signingKey));
    }
  }

  const click = {
    code,
    shard: shardFor(visitor, config.clickShards),
    clickId,
    at: now,
    visitorHash: visitor,
    bot: automated,
    country: (request.cf?.country as string | undefined) ?? null,
    referrerHost: referrerHost(request.headers.get("referer") ?? undefined),
    agentFamily: agentFamily(userAgent, automated),
  };
  const waitUntil = (promise: Promise<unknown>) => ctx.waitUntil(promise);
  // The click budget's key (a salted hash of the client's network) is computed after the answer: only the counter needs it.
  waitUntil(
    clientKey(config.visitorSalt, ip).then((client) =>
      queueClick(
        env.CODE_COUNTER,
        (counter, clicks) => backlogClicks(createDb(env.DB), counter, clicks, Date.now()),
        { ...click, client },
        waitUntil,
      ),
    ),
  );
  return redirectTo(location.href, cookie);
}

/**
 * The share link in the typed API: its OpenAPI entry, and the answer for any
 * request the fast path in index.ts leaves to the router. A garbled or
 * malformed code is a plain redirect to signup that touches nothing.
 */
export const redirect = createRouter().openapi(
  shareLinkRoute,
  async (c) => {
    const code = shareLinkCode(c.req.raw);
    if (code) return followShareLink(c.req.raw, c.env, c.executionCtx, code, c.var.config);
    return redirectTo(c.var.config.signupUrl);
  },
  // A person following a garbled link still gets to signup: refused input is a plain redirect, not a 400.
  (result, c) => (inputProblem(result, c) ? redirectTo(c.var.config.signupUrl) : undefined),
);
