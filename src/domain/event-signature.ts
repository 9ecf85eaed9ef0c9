import { hmacSign, hmacVerify, toHex } from "./crypto";

/**
 * Signatures on events sent to the host product, Stripe-style:
 * `Referral-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`,
 * one `v1` per configured secret so the receiver can rotate without downtime.
 */
export async function signEvent(body: string, secrets: readonly string[], timestamp: number): Promise<string> {
  const t = Math.floor(timestamp / 1000);
  const signatures = await Promise.all(secrets.map(async (secret) => toHex(await hmacSign(secret, `${t}.${body}`))));
  return [`t=${t}`, ...signatures.map((signature) => `v1=${signature}`)].join(",");
}

/**
 * What a receiver does: true when one `v1` matches its secret and `t` is
 * within the tolerance. Each signature is checked with Web Crypto's HMAC
 * verify, which compares in constant time, and every `v1` is checked, so the
 * time taken tells nothing about how close a forgery came.
 */
export async function verifyEventSignature(
  body: string,
  header: string,
  secret: string,
  now: number,
  toleranceS = 300,
): Promise<boolean> {
  const parts = header.split(",").map((part) => part.split("=", 2) as [string, string | undefined]);
  const t = Number(parts.find(([key]) => key === "t")?.[1]);
  if (!Number.isInteger(t) || Math.abs(now / 1000 - t) > toleranceS) return false;
  let match = false;
  for (const [key, value] of parts) {
    const signature = key === "v1" ? fromHex(value ?? "") : null;
    if (signature && (await hmacVerify(secret, `${t}.${body}`, signature))) match = true;
  }
  return match;
}

/** A SHA-256 HMAC in lower-case hex, as bytes; anything else is not a signature. */
function fromHex(hex: string): Uint8Array | null {
  if (!/^[0-9a-f]{64}$/.test(hex)) return null;
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}
