import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { sha256Hex } from "../domain/crypto";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";

/** Rate limit windows are 60 s, so that is how long a refused caller should wait. */
export const RETRY_AFTER_S = 60;

/**
 * Refuses a request with 429 and Retry-After when `key` is over the limiter's
 * budget. The limiter is the Workers Rate Limiting binding (emulated locally).
 */
export function rateLimit<E extends AppEnv>(
  limiter: (env: Env) => RateLimit | undefined,
  key: (c: Context<E>) => Promise<string | undefined> | string | undefined,
): MiddlewareHandler<E> {
  return createMiddleware<E>(async (c, next) => {
    if (await overLimit(limiter(c.env), await key(c))) {
      c.header("Retry-After", String(RETRY_AFTER_S));
      throw new ApiError(429, "rate_limited", `Too many requests; retry in ${RETRY_AFTER_S} seconds`);
    }
    await next();
  });
}

/** Whether `key` is over the limiter's budget. A missing binding (removed from wrangler.toml) is no limit. */
export async function overLimit(binding: RateLimit | undefined, key: string | undefined): Promise<boolean> {
  return binding !== undefined && key !== undefined && !(await binding.limit({ key })).success;
}

/** A stable, non-secret key for a credential: its digest, never the credential itself. */
export async function credentialKey(header: string | undefined): Promise<string | undefined> {
  const token = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return token ? (await sha256Hex(token)).slice(0, 32) : undefined;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Bodies larger than `maxBytes` get 413, bodies that are not JSON get 415,
 * before anything reads them.
 */
export function jsonBody<E extends AppEnv>(maxBytes: number): MiddlewareHandler<E> {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError(413, "payload_too_large", `The body is larger than ${maxBytes} bytes`);
    },
  });
  return createMiddleware<E>(async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD" || c.req.method === "OPTIONS") return next();
    const length = c.req.header("content-length");
    const hasBody = (length !== undefined && length !== "0") || c.req.header("transfer-encoding") !== undefined;
    if (hasBody && !JSON_TYPE.test(c.req.header("content-type") ?? "")) {
      throw new ApiError(415, "unsupported_media_type", "Send the body as application/json");
    }
    return limit(c, next);
  });
}

/**
 * Headers every response gets, and a strict default policy for any HTML that
 * does not bring its own: nothing may sniff, frame or leak the URL.
 */
export const securityHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  c.res.headers.set("X-Content-Type-Options", "nosniff");
  if (c.res.headers.get("content-type")?.startsWith("text/html")) {
    if (!c.res.headers.has("Content-Security-Policy")) {
      c.res.headers.set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    }
    if (!c.res.headers.has("Referrer-Policy")) c.res.headers.set("Referrer-Policy", "no-referrer");
  }
});
