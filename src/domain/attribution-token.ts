import type { SigningKey } from "../config";
import { fromBase64Url, hmacSign, hmacVerify, toBase64Url } from "./crypto";

/**
 * The attribution cookie: `<payload>.<signature>`, both base64url. The payload
 * is JSON `{ v, kid, c, k, t, vh }` (version, key id, code, click id, issued-at
 * ms, visitor hash); the signature is HMAC-SHA256 over the encoded payload with
 * the key named by `kid`. Keys rotate by list: the first signs, all verify.
 */

export interface AttributionClaims {
  code: string;
  clickId: string;
  issuedAt: number;
  visitorHash: string;
}

export type TokenStatus = "valid" | "missing" | "malformed" | "unknown_key" | "tampered" | "expired";

export type TokenCheck =
  | { status: "valid"; claims: AttributionClaims; kid: string }
  | { status: Exclude<TokenStatus, "valid">; claims?: undefined; kid?: undefined };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Tokens stamped further in the future than this were not issued by a sane clock. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const MAX_TOKEN_LENGTH = 1024;

export async function signAttributionToken(claims: AttributionClaims, key: SigningKey): Promise<string> {
  const payload = toBase64Url(
    encoder.encode(
      JSON.stringify({
        v: 1,
        kid: key.kid,
        c: claims.code,
        k: claims.clickId,
        t: claims.issuedAt,
        vh: claims.visitorHash,
      }),
    ),
  );
  return `${payload}.${toBase64Url(await hmacSign(key.secret, payload))}`;
}

function readPayload(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(decoder.decode(bytes));
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Checks a token against the verifying keys and the attribution window. Only a
 * `valid` result carries claims: a token that fails any check is never trusted.
 */
export async function verifyAttributionToken(
  token: string | undefined,
  keys: readonly SigningKey[],
  now: number,
  windowMs: number,
): Promise<TokenCheck> {
  if (token === undefined || token === "") return { status: "missing" };
  if (token.length > MAX_TOKEN_LENGTH) return { status: "malformed" };
  const parts = token.split(".");
  if (parts.length !== 2) return { status: "malformed" };
  const [encodedPayload = "", encodedSignature = ""] = parts;
  const payloadBytes = fromBase64Url(encodedPayload);
  const signature = fromBase64Url(encodedSignature);
  if (!payloadBytes || !signature) return { status: "malformed" };
  const payload = readPayload(payloadBytes);
  if (!payload || typeof payload.kid !== "string") return { status: "malformed" };

  const key = keys.find((candidate) => candidate.kid === payload.kid);
  if (!key) return { status: "unknown_key" };
  if (!(await hmacVerify(key.secret, encodedPayload, signature))) return { status: "tampered" };

  const { v, c, k, t, vh } = payload;
  if (v !== 1 || typeof c !== "string" || typeof k !== "string" || typeof vh !== "string") {
    return { status: "malformed" };
  }
  if (typeof t !== "number" || !Number.isFinite(t) || t > now + MAX_CLOCK_SKEW_MS) return { status: "malformed" };
  if (now - t > windowMs) return { status: "expired" };
  return { status: "valid", kid: key.kid, claims: { code: c, clickId: k, issuedAt: t, visitorHash: vh } };
}
