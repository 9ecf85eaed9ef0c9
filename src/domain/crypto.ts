/** Small crypto helpers over Web Crypto; no I/O. */

import { decodeBase64Url, encodeBase64Url } from "hono/utils/encode";

const encoder = new TextEncoder();

/**
 * Unpadded base64url, as every token here has always been written: Hono's
 * encoder keeps the `=` padding, so it is dropped here.
 */
export function toBase64Url(bytes: Uint8Array): string {
  // Hono takes a whole buffer: a view on part of one is copied out first.
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return encodeBase64Url((whole ? bytes : bytes.slice()).buffer).replace(/=+$/, "");
}

/**
 * Decodes canonical base64url only: a string whose unused trailing bits are
 * not zero decodes to the same bytes as another string, so it is refused, and
 * every distinct token string means distinct bytes.
 */
export function fromBase64Url(text: string): Uint8Array | null {
  // atob forgives whitespace and padding; a token has neither.
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const bytes = decodeBase64Url(text);
    return toBase64Url(bytes) === text ? bytes : null;
  } catch {
    return null;
  }
}

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let hex = "";
  for (const byte of view) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

export async function sha256Hex(text: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

const hmacKeys = new Map<string, Promise<CryptoKey>>();

/** An HMAC-SHA256 key, imported once per secret and isolate. */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    hmacKeys.set(secret, key);
  }
  return key;
}

export async function hmacSign(secret: string, message: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(message)));
}

/** Verifies in constant time (Web Crypto's verify does not short-circuit). */
export async function hmacVerify(secret: string, message: string, signature: Uint8Array): Promise<boolean> {
  return crypto.subtle.verify("HMAC", await hmacKey(secret), signature, encoder.encode(message));
}

/**
 * True when `candidate` equals one of `allowed`, comparing digests in constant
 * time and checking every entry, so neither length nor position leaks.
 */
export async function matchesAny(candidate: string, allowed: readonly string[]): Promise<boolean> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(candidate));
  let found = false;
  for (const key of allowed) {
    const other = await crypto.subtle.digest("SHA-256", encoder.encode(key));
    if (crypto.subtle.timingSafeEqual(digest, other)) found = true;
  }
  return found;
}
