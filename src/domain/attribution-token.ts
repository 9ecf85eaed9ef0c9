import type { SigningKey } from "../config";
import { fromBase64Url, hmacSign, hmacVerify, toBase64Url } from "./crypto";
import { type OpenFailure, openToken, signToken } from "./signed-token";

/**
 * The attribution cookie: a signed token (see signed-token.ts) whose payload
 * is `{ v, kid, c, k, t, vh }`: version, key id, code, click id, issued-at ms
 * and visitor hash.
 *
 * The same claims travel in the signup URL (and in a Stripe
 * `client_reference_id`, which allows only letters, digits, `-` and `_`, up to
 * 200 characters) as a compact token: one base64url string, no dot, holding
 * the claims in binary followed by their HMAC-SHA256. Both forms are signed
 * by the first key and verified by every listed key.
 */

/** How the token came: the cookie's form, or the compact form the redirect puts in the URL. */
export type TokenCarrier = "cookie" | "url";

export interface AttributionClaims {
  code: string;
  clickId: string;
  issuedAt: number;
  visitorHash: string;
}

export type TokenStatus = "valid" | OpenFailure | "expired";

export type TokenCheck =
  | { status: "valid"; claims: AttributionClaims; kid: string; carrier: TokenCarrier }
  | { status: Exclude<TokenStatus, "valid">; claims?: undefined; kid?: undefined; carrier?: undefined };

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
  // The cookie's form always has one dot; the compact form never has any.
  if (token !== undefined && token !== "" && !token.includes(".")) {
    const opened = await openCompactToken(token, keys);
    if (opened.status !== "valid") return { status: opened.status };
    return checkTime(opened.claims, opened.kid, "url", now, windowMs);
  }
  const opened = await openToken(token, keys);
  if (opened.status !== "valid") return { status: opened.status };
  const { v, c, k, t, vh } = opened.payload;
  if (v !== 1 || typeof c !== "string" || typeof k !== "string" || typeof vh !== "string") {
    return { status: "malformed" };
  }
  if (typeof t !== "number" || !Number.isFinite(t)) return { status: "malformed" };
  return checkTime({ code: c, clickId: k, issuedAt: t, visitorHash: vh }, opened.kid, "cookie", now, windowMs);
}

function checkTime(
  claims: AttributionClaims,
  kid: string,
  carrier: TokenCarrier,
  now: number,
  windowMs: number,
): TokenCheck {
  if (claims.issuedAt > now + MAX_CLOCK_SKEW_MS) return { status: "malformed" };
  if (now - claims.issuedAt > windowMs) return { status: "expired" };
  return { status: "valid", kid, carrier, claims };
}

/*
 * The compact form's bytes: version (2) · issued-at ms (6 bytes, big-endian) ·
 * click id (the UUID's 16 bytes) · visitor hash (16 bytes) · key id length (1)
 * · key id · code (the rest, ASCII) · HMAC-SHA256 of the base64url of all
 * before it (32 bytes). A 13-character code and a 2-character key id make 116
 * characters; the longest code (21) and key id (16) make 146.
 */
const COMPACT_VERSION = 2;
const HEADER_BYTES = 40;
const SIGNATURE_BYTES = 32;
const UUID = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/;
const HEX32 = /^[0-9a-f]{32}$/;
const ASCII_TEXT = /^[\x21-\x7e]+$/;

const hexBytes = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
const bytesHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** The claims in the URL's compact form, signed with `key`. */
export async function signUrlAttributionToken(claims: AttributionClaims, key: SigningKey): Promise<string> {
  const uuid = UUID.exec(claims.clickId.toLowerCase());
  if (!uuid) throw new Error("a compact attribution token needs a UUID click id");
  if (!HEX32.test(claims.visitorHash)) throw new Error("a compact attribution token needs a 32-hex visitor hash");
  if (!ASCII_TEXT.test(claims.code) || !ASCII_TEXT.test(key.kid) || key.kid.length > 255) {
    throw new Error("a compact attribution token needs an ASCII code and key id");
  }
  const payload = new Uint8Array(HEADER_BYTES + key.kid.length + claims.code.length);
  payload[0] = COMPACT_VERSION;
  let time = claims.issuedAt;
  for (let i = 6; i >= 1; i--) {
    payload[i] = time % 256;
    time = Math.floor(time / 256);
  }
  payload.set(hexBytes(uuid.slice(1).join("")), 7);
  payload.set(hexBytes(claims.visitorHash), 23);
  payload[39] = key.kid.length;
  payload.set(new TextEncoder().encode(key.kid), HEADER_BYTES);
  payload.set(new TextEncoder().encode(claims.code), HEADER_BYTES + key.kid.length);
  const signature = await hmacSign(key.secret, toBase64Url(payload));
  const token = new Uint8Array(payload.length + signature.length);
  token.set(payload);
  token.set(signature, payload.length);
  return toBase64Url(token);
}

type CompactOpened =
  | { status: "valid"; claims: AttributionClaims; kid: string }
  | { status: OpenFailure; claims?: undefined; kid?: undefined };

async function openCompactToken(token: string, keys: readonly SigningKey[]): Promise<CompactOpened> {
  if (token.length > 400) return { status: "malformed" };
  const bytes = fromBase64Url(token);
  if (!bytes || bytes.length < HEADER_BYTES + 2 + SIGNATURE_BYTES || bytes[0] !== COMPACT_VERSION) {
    return { status: "malformed" };
  }
  const payload = bytes.slice(0, bytes.length - SIGNATURE_BYTES);
  const signature = bytes.slice(bytes.length - SIGNATURE_BYTES);
  const kidLength = payload[39] ?? 0;
  if (kidLength === 0 || HEADER_BYTES + kidLength >= payload.length) return { status: "malformed" };
  const decoder = new TextDecoder();
  const kid = decoder.decode(payload.slice(HEADER_BYTES, HEADER_BYTES + kidLength));
  const code = decoder.decode(payload.slice(HEADER_BYTES + kidLength));
  if (!ASCII_TEXT.test(kid) || !ASCII_TEXT.test(code)) return { status: "malformed" };
  const key = keys.find((candidate) => candidate.kid === kid);
  if (!key) return { status: "unknown_key" };
  if (!(await hmacVerify(key.secret, toBase64Url(payload), signature))) return { status: "tampered" };
  let issuedAt = 0;
  for (let i = 1; i <= 6; i++) issuedAt = issuedAt * 256 + (payload[i] ?? 0);
  const id = bytesHex(payload.slice(7, 23));
  const clickId = `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
  return { status: "valid", kid, claims: { code, clickId, issuedAt, visitorHash: bytesHex(payload.slice(23, 39)) } };
}
