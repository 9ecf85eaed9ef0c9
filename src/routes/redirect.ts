import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { setCookie } from "hono/cookie";
import { createDb } from "../db/client";
import { backlogClicks } from "../db/queries/click-backlog";
import { signAttributionToken, signUrlAttributionToken } from "../domain/attribution-token";
import { parseCode } from "../domain/codes";
import { agentFamily, clientKey, isAutomated, referrerHost, shardFor, visitorHash } from "../domain/visitor";
import type { AppEnv } from "../env";
import { overLimit } from "../middleware/limits";
import { createRouter, inputProblem } from "../openapi";
import { isKnownCode, recordClick } from "../services/clicks";

const shareLinkRoute = createRoute({
  method: "get",
  path: "/r/{code}",
  tags: ["share links"],
  summary: "Follow a share link: count the click, set the attribution cookie, redirect to signup",
  description:
    "Always answers 302 to the configured signup URL. A known code adds `ref=CODE` and, for a person's browser, " +
    "a signed `ref_token` cookie; bots, link previews and HEAD requests are redirected without a cookie and counted apart.",
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

/** The signup page, from config only, never from the request: no open redirect. */
function toSignup(c: Context<AppEnv>): URL {
  c.header("Cache-Control", "no-store");
  c.header("X-Robots-Tag", "noindex");
  return new URL(c.var.config.signupUrl);
}

export const redirect = createRouter().openapi(
  shareLinkRoute,
  async (c) => {
    const config = c.var.config;
    const location = toSignup(c);

    // A malformed code never reaches a Durable Object.
    const code = parseCode(c.req.valid("param").code);
    if (!code) return c.redirect(location.href, 302);

    const now = Date.now();
    const userAgent = c.req.header("user-agent") ?? "";
    const ip = c.req.header("cf-connecting-ip") ?? "";
    const automated = isAutomated(c.req.method, userAgent);
    const visitor = await visitorHash(config.visitorSalt, now, ip, userAgent);
    const clickId = crypto.randomUUID();
    const shard = shardFor(visitor, config.clickShards);

    // A client over the click limit still gets to signup, but is not counted and
    // gets no cookie; the code stays in the URL only if this isolate knows it exists.
    // The limit is per client address, not per visitor: the user agent is the
    // caller's to choose, so a budget per agent would be a budget per request.
    // The client's key is a hash of its own: computed only when there is a limiter to ask.
    const limiter = c.env.CLICK_LIMITER;
    if (limiter && (await overLimit(limiter, await clientKey(config.visitorSalt, ip)))) {
      if (isKnownCode(code, now)) location.searchParams.set("ref", code);
      return c.redirect(location.href, 302);
    }

    const result = await recordClick(
      c.env.CODE_COUNTER,
      (counter, clicks) => backlogClicks(createDb(c.env.DB), counter, clicks, Date.now()),
      {
        code,
        shard,
        clickId,
        at: now,
        visitorHash: visitor,
        bot: automated,
        country: (c.req.raw.cf?.country as string | undefined) ?? null,
        referrerHost: referrerHost(c.req.header("referer")),
        agentFamily: agentFamily(userAgent, automated),
      },
      (promise) => c.executionCtx.waitUntil(promise),
    );
    // When the counter cannot be reached the person still gets to signup, with
    // the code in the URL for the signup backend, but no cookie vouches for a
    // click not counted yet (it waits in the backlog).
    if (result && !result.known) return c.redirect(location.href, 302);

    location.searchParams.set("ref", code);
    // The referee's discount: the host's Checkout can pre-apply the promotion code named like the code.
    if (config.refereeCoupon && config.stripeSecretKey) location.searchParams.set("promo", code);
    if (result && !automated) {
      const claims = { code, clickId, issuedAt: now, visitorHash: visitor };
      const token = await signAttributionToken(claims, config.signingKey);
      // The click also travels in the URL, for a signup app the cookie does not reach
      // (another domain, an in-app browser): pure computation, nothing awaited on I/O.
      if (config.attributionUrlParam) {
        location.searchParams.set(config.attributionUrlParam, await signUrlAttributionToken(claims, config.signingKey));
      }
      // A later click on another code replaces this cookie: the last click wins.
      setCookie(c, config.cookieName, token, {
        httpOnly: true,
        secure: true,
        sameSite: "Lax",
        path: "/",
        maxAge: Math.floor(config.attributionWindowMs / 1000),
        ...(config.cookieDomain ? { domain: config.cookieDomain } : {}),
      });
    }
    return c.redirect(location.href, 302);
  },
  // A person following a garbled link still gets to signup: refused input is a plain redirect, not a 400.
  (result, c) => (inputProblem(result, c) ? c.redirect(toSignup(c).href, 302) : undefined),
);
