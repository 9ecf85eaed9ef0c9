import { hmacSign, toHex } from "./crypto";

/** Providers that ignore dots in the local part (and map a second domain to the first). */
const DOT_INSENSITIVE: Record<string, string> = { "gmail.com": "gmail.com", "googlemail.com": "gmail.com" };

/**
 * The mailbox an address delivers to, as far as we can tell: lower-cased,
 * `+tag` dropped, and dots dropped where the provider ignores them. Two
 * addresses that normalise equally reach the same person.
 */
export function normalizeEmail(email: string): string {
  const trimmed = email.trim().toLowerCase();
  const at = trimmed.lastIndexOf("@");
  if (at <= 0) return trimmed;
  let local = trimmed.slice(0, at);
  let domain = trimmed.slice(at + 1);
  local = local.split("+")[0] ?? local;
  const canonical = DOT_INSENSITIVE[domain];
  if (canonical) {
    domain = canonical;
    local = local.replace(/\./g, "");
  }
  return `${local}@${domain}`;
}

/**
 * What is stored instead of an address: a keyed hash, enough to compare two
 * addresses, useless to mail and not reversible by guessing without the key.
 */
export async function emailHash(secret: string, email: string): Promise<string> {
  return toHex(await hmacSign(secret, `email:${normalizeEmail(email)}`));
}
