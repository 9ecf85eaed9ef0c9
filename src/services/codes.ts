import type { Config } from "../config";
import type { Db } from "../db/client";
import { findCode, findCodeByUser, insertCode, type ReferralCodeRow } from "../db/queries/codes";
import { generateCode } from "../domain/codes";
import { emailHash } from "../domain/email";
import { type CodeCounter, counterStub, readClickCounters } from "../durable-objects/code-counter";
import { ApiError } from "../errors";
import { rememberCode } from "./clicks";

export interface CodeDeps {
  db: Db;
  config: Config;
  counters: DurableObjectNamespace<CodeCounter>;
}

export interface NewCode {
  userId: string;
  name?: string;
  displayName?: string;
  email?: string;
}

/** Attempts with the user's name before falling back to random letters. */
const NAMED_ATTEMPTS = 8;
const MAX_ATTEMPTS = 16;

/**
 * The user's code, created on first call. One code per user: a repeated or
 * concurrent call for the same user returns the code that won. The counter
 * object is (re-)registered every time, so a failed registration heals on retry.
 */
export async function ensureCode(
  deps: CodeDeps,
  input: NewCode,
  now: number,
): Promise<{ row: ReferralCodeRow; created: boolean }> {
  const existing = await findCodeByUser(deps.db, input.userId);
  let result = existing ? { row: existing, created: false } : undefined;
  const hashedEmail = input.email ? await emailHash(deps.config.visitorSalt, input.email) : null;
  for (let attempt = 0; !result && attempt < MAX_ATTEMPTS; attempt++) {
    const created = await insertCode(deps.db, {
      code: generateCode(deps.config.codePrefix, attempt < NAMED_ATTEMPTS ? input.name : undefined),
      userId: input.userId,
      displayName: input.displayName ?? null,
      emailHash: hashedEmail,
      createdAt: now,
    });
    if (created) {
      result = { row: created, created: true };
      break;
    }
    // Either the code collided (try another) or this user won a concurrent race.
    const winner = await findCodeByUser(deps.db, input.userId);
    if (winner) result = { row: winner, created: false };
  }
  if (!result) throw new ApiError(503, "code_space_exhausted", "Could not find a free code; try again");
  await counterStub(deps.counters, result.row.code, 0).register(result.row.code);
  // This isolate's share links may vouch for the code at once (see services/clicks.ts).
  rememberCode(result.row.code, true, Date.now());
  return result;
}

export interface CodeStats {
  clicks: number;
  uniqueClicks: number;
  botClicks: number;
  signups: number;
  conversions: number;
}

/** A code with live counters: clicks from its counter objects, the rest from D1. */
export async function getCodeWithStats(
  deps: CodeDeps,
  code: string,
): Promise<{ row: ReferralCodeRow; stats: CodeStats } | undefined> {
  const row = await findCode(deps.db, code);
  if (!row) return undefined;
  const clicks = await readClickCounters(deps.counters, code, deps.config.clickShards);
  return { row, stats: { ...clicks, signups: row.signups, conversions: row.conversions } };
}

/** A code's share link, on the configured public origin: never on the Host a request claims. */
export function shareUrl(config: Config, code: string): string {
  return `${config.publicUrl}/r/${code}`;
}
