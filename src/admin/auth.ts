import { createRemoteJWKSet, jwtVerify } from "jose";
import type { Config, SigningKey } from "../config";
import { hmacSign, sha256Hex, toBase64Url, toHex } from "../domain/crypto";
import { openToken, signToken } from "../domain/signed-token";

/**
 * Who may use the operator's console. Behind Cloudflare Access, the assertion
 * Access adds to every request names the operator; without it, an admin key
 * opens a signed session. Either way a request ends with an `Operator`: who
 * acts (for the audit log) and what the CSRF token of its forms is bound to.
 */

export const SESSION_COOKIE = "admin_session";
export const SESSION_TTL_MS = 12 * 3_600_000;
const SESSION_KID = "s1";

export interface Operator {
  /** `key:<fingerprint>` for an admin key, the email for Access. */
  actor: string;
  /** What the CSRF token is bound to: the session's random id, or the Access subject. */
  binding: string;
}

/** A short, stable name for an admin key that does not reveal it: the audit log's actor. */
export async function keyFingerprint(key: string): Promise<string> {
  return `key:${(await sha256Hex(`admin-key\n${key}`)).slice(0, 12)}`;
}

/**
 * The secret that signs sessions and CSRF tokens, derived from the admin key
 * set (so removing a key ends its sessions) and the visitor salt (so knowing
 * a key is not knowing the secret).
 */
async function consoleSecret(config: Config): Promise<SigningKey> {
  const material = ["admin-console", ...config.adminKeys, config.access?.aud ?? ""].join("\n");
  return { kid: SESSION_KID, secret: toHex(await hmacSign(config.visitorSalt, material)) };
}

/** A session cookie value for `actor`, valid until `expiresAt`. */
export async function signSession(config: Config, actor: string, expiresAt: number): Promise<string> {
  return signToken({ sub: actor, sid: crypto.randomUUID(), exp: expiresAt }, await consoleSecret(config));
}

export async function openSession(config: Config, cookie: string | undefined, now: number): Promise<Operator | null> {
  const opened = await openToken(cookie, [await consoleSecret(config)]);
  if (opened.status !== "valid") return null;
  const { sub, sid, exp } = opened.payload;
  if (typeof sub !== "string" || typeof sid !== "string" || typeof exp !== "number" || exp <= now) return null;
  return { actor: sub, binding: sid };
}

export async function csrfToken(config: Config, operator: Operator): Promise<string> {
  const { secret } = await consoleSecret(config);
  return toBase64Url(await hmacSign(secret, `csrf\n${operator.actor}\n${operator.binding}`));
}

/** Compares in constant time: both sides are hashed first, so length does not leak either. */
export async function csrfMatches(config: Config, operator: Operator, candidate: unknown): Promise<boolean> {
  if (typeof candidate !== "string" || candidate === "") return false;
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all(
    [candidate, await csrfToken(config, operator)].map((value) =>
      crypto.subtle.digest("SHA-256", encoder.encode(value)),
    ),
  );
  return crypto.subtle.timingSafeEqual(a as ArrayBuffer, b as ArrayBuffer);
}

const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

/** One key set per URL and isolate: jose caches the keys and refetches on an unknown kid. */
function accessKeys(url: string) {
  let keys = keySets.get(url);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(url));
    keySets.set(url, keys);
  }
  return keys;
}

/** The operator a Cloudflare Access assertion names, or null when it is missing, expired, or not for us. */
export async function verifyAccessAssertion(
  access: NonNullable<Config["access"]>,
  assertion: string | undefined,
): Promise<Operator | null> {
  if (!assertion) return null;
  try {
    const { payload } = await jwtVerify(assertion, accessKeys(access.certsUrl), {
      algorithms: ["RS256"],
      audience: access.aud,
      issuer: `https://${access.teamDomain}`,
    });
    const email = typeof payload.email === "string" ? payload.email : undefined;
    if (!email) return null;
    return { actor: email, binding: payload.sub ?? email };
  } catch {
    return null;
  }
}
