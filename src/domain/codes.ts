/**
 * Referral codes look like `DEVO-ALEX1234`: a configured prefix, a dash, up to
 * four characters of the user's name and four random digits.
 */

/** The shape every code has once upper-cased; anything else never reaches storage. */
const CODE_SHAPE = /^[A-Z0-9]{1,12}-[A-Z0-9]{4,8}$/;
const MAX_CODE_LENGTH = 21;

/** Upper-cases a code from a URL and checks its shape; null when it cannot be a code. */
export function parseCode(raw: string): string | null {
  if (raw.length === 0 || raw.length > MAX_CODE_LENGTH) return null;
  const code = raw.toUpperCase();
  return CODE_SHAPE.test(code) ? code : null;
}

/** The name part of a code: upper-cased, stripped to A-Z and 0-9, at most 4 characters. */
export function codeName(name: string | undefined): string {
  return (name ?? "")
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, "")
    .slice(0, 4);
}

const LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ";

/** Fills `count` characters from `alphabet` with crypto-grade randomness. */
function randomChars(alphabet: string, count: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(count));
  let out = "";
  // 256 is not a multiple of 10 or 24: the bias this leaves is below 1 % per
  // character and irrelevant for codes whose uniqueness D1 enforces anyway.
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}

/**
 * A candidate code. Without a usable name the name part is random letters, so
 * a public link never leaks the host product's user id.
 */
export function generateCode(prefix: string, name: string | undefined): string {
  const base = codeName(name) || randomChars(LETTERS, 4);
  return `${prefix}-${base}${randomChars("0123456789", 4)}`;
}
