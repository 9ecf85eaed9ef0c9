import { hmacSign, toHex } from "./crypto";

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
 * within the tolerance. Exported for the host product's own checks and tests.
 */
export async function verifyEventSignature(
  body: string,
  header: string,
  secret: string,
  now: number,
  toleranceS = 300,
): Promise<boolean> {
  const parts = header.split(",").map((part) => part.split("=", 2) as [string, string]);
  const t = Number(parts.find(([key]) => key === "t")?.[1]);
  if (!Number.isFinite(t) || Math.abs(now / 1000 - t) > toleranceS) return false;
  const expected = toHex(await hmacSign(secret, `${t}.${body}`));
  let match = false;
  for (const [key, value] of parts)
    if (key === "v1" && value.length === expected.length && value === expected) match = true;
  return match;
}
