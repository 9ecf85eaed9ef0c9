import type { SigningKey } from "../config";
import { fromBase64Url, hmacSign, hmacVerify, toBase64Url } from "./crypto";

/**
 * `<payload>.<signature>`, both base64url: the payload is a JSON object that
 * names its key (`kid`); the signature is HMAC-SHA256 over the encoded payload
 * with that key. Keys rotate by list: the first signs, every listed key verifies.
 */

export type OpenFailure = "missing" | "malformed" | "unknown_key" | "tampered";

export type Opened =
  | { status: "valid"; payload: Record<string, unknown>; kid: string }
  | { status: OpenFailure; payload?: undefined; kid?: undefined };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAX_TOKEN_LENGTH = 1024;

export async function signToken(claims: Record<string, unknown>, key: SigningKey): Promise<string> {
  const payload = toBase64Url(encoder.encode(JSON.stringify({ ...claims, kid: key.kid })));
  return `${payload}.${toBase64Url(await hmacSign(key.secret, payload))}`;
}

function readObject(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(decoder.decode(bytes));
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Checks the signature with the key the token names; only a `valid` result carries the payload. */
export async function openToken(token: string | undefined, keys: readonly SigningKey[]): Promise<Opened> {
  if (token === undefined || token === "") return { status: "missing" };
  if (token.length > MAX_TOKEN_LENGTH) return { status: "malformed" };
  const parts = token.split(".");
  if (parts.length !== 2) return { status: "malformed" };
  const [encodedPayload = "", encodedSignature = ""] = parts;
  const payloadBytes = fromBase64Url(encodedPayload);
  const signature = fromBase64Url(encodedSignature);
  if (!payloadBytes || !signature) return { status: "malformed" };
  const payload = readObject(payloadBytes);
  if (!payload || typeof payload.kid !== "string") return { status: "malformed" };
  const key = keys.find((candidate) => candidate.kid === payload.kid);
  if (!key) return { status: "unknown_key" };
  if (!(await hmacVerify(key.secret, encodedPayload, signature))) return { status: "tampered" };
  return { status: "valid", payload, kid: key.kid };
}
