import type { SigningKey } from "../config";
import { type OpenFailure, openToken, signToken } from "./signed-token";

/**
 * The attribution cookie: a signed token (see signed-token.ts) whose payload
 * is `{ v, kid, c, k, t, vh }`: version, key id, code, click id, issued-at ms
 * and visitor hash.
 */

export interface AttributionClaims {
  code: string;
  clickId: string;
  issuedAt: number;
  visitorHash: string;
}

export type TokenStatus = "valid" | OpenFailure | "expired";

export type TokenCheck =
  | { status: "valid"; claims: AttributionClaims; kid: string }
  | { status: Exclude<TokenStatus, "valid">; claims?: undefined; kid?: undefined };

/** Tokens stamped further in the future than this were not issued by a sane clock. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export function signAttributionToken(claims: AttributionClaims, key: SigningKey): Promise<string> {
  return signToken({ v: 1, c: claims.code, k: claims.clickId, t: claims.issuedAt, vh: claims.visitorHash }, key);
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
  const opened = await openToken(token, keys);
  if (opened.status !== "valid") return { status: opened.status };
  const { v, c, k, t, vh } = opened.payload;
  if (v !== 1 || typeof c !== "string" || typeof k !== "string" || typeof vh !== "string") {
    return { status: "malformed" };
  }
  if (typeof t !== "number" || !Number.isFinite(t) || t > now + MAX_CLOCK_SKEW_MS) return { status: "malformed" };
  if (now - t > windowMs) return { status: "expired" };
  return { status: "valid", kid: opened.kid, claims: { code: c, clickId: k, issuedAt: t, visitorHash: vh } };
}
