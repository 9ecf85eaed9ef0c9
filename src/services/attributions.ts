import type { Config } from "../config";
import { type Db, runBatch } from "../db/client";
import { findCode, type ReferralCodeRow } from "../db/queries/codes";
import {
  bumpCounterStatements,
  findReferralByReferee,
  insertReferralStatement,
  isUserVisitor,
  type ReferralRow,
  recordBlockedAttribution,
  recordVisitorStatement,
  refereesOfClick,
  referralFromRaw,
} from "../db/queries/referrals";
import { grantStatements, type RewardRow, rewardFromRaw } from "../db/queries/rewards";
import { type Carrier, rankedCarriers } from "../domain/attribution-source";
import { type TokenStatus, verifyAttributionToken } from "../domain/attribution-token";
import { parseCode } from "../domain/codes";
import { emailHash, normalizeEmail } from "../domain/email";
import { capWindow, planSignupGrants } from "../domain/rules";
import { utcDay } from "../domain/visitor";
import type { CodeCounter } from "../durable-objects/code-counter";
import { ApiError } from "../errors";
import { ERASED_PREFIX } from "./privacy";
import { clickDetails, referralClickStatement } from "./referral-click";

export interface AttributionInput {
  refereeId: string;
  /** The `ref_token` cookie the signup page received, or the click token from its URL. */
  token?: string;
  /** The click token from the signup URL (`ref_click`), when the cookie is sent as `token` too. */
  urlToken?: string;
  /** The `ref` query parameter, used when no valid token is given. */
  code?: string;
  email?: string;
  referrerEmail?: string;
}

export interface AttributionResult {
  created: boolean;
  referral: ReferralRow;
  rewards: RewardRow[];
  tokenStatus: TokenStatus;
}

export type FraudReason = "self_referral" | "same_email" | "same_visitor" | "same_click";

const FRAUD_MESSAGES: Record<FraudReason, string> = {
  self_referral: "A user cannot be referred by their own code",
  same_email: "The referee's email is the referrer's",
  same_visitor: "The referee signed up from the referrer's own browser",
  same_click: "This click already referred as many referees as one click may",
};

/**
 * The best of a referee's carriers whose code belongs to a live referrer, with
 * that referrer. A carrier naming a code that does not exist (a typo followed
 * to the share link) or an erased user's retired code gives way to the next,
 * so it never hides a real attribution.
 */
export async function liveCarrier<C extends Carrier>(
  db: Db,
  carriers: readonly C[],
): Promise<{ carrier: C; owner: ReferralCodeRow } | null> {
  const owners = new Map<string, ReferralCodeRow | undefined>();
  for (const carrier of rankedCarriers(carriers)) {
    if (!owners.has(carrier.code)) owners.set(carrier.code, await findCode(db, carrier.code));
    const owner = owners.get(carrier.code);
    if (owner && !owner.userId.startsWith(ERASED_PREFIX)) return { carrier, owner };
  }
  return null;
}

/**
 * Attributes a new user to the referrer whose link (cookie) or code brought
 * them, and grants both sides their rewards: all in one atomic batch, once.
 * The first attribution wins; later calls return it and grant nothing.
 */
export async function attribute(
  deps: { db: Db; config: Config; counters?: DurableObjectNamespace<CodeCounter> },
  input: AttributionInput,
  now: number,
): Promise<AttributionResult> {
  const { db, config } = deps;
  const verify = (token: string | undefined) =>
    verifyAttributionToken(token, config.attributionKeys, now, config.attributionWindowMs);
  const [cookieCheck, urlCheck] = await Promise.all([verify(input.token), verify(input.urlToken)]);
  const carriers: Carrier[] = [];
  for (const check of [cookieCheck, urlCheck]) {
    if (check.status === "valid")
      carriers.push({ source: check.carrier, code: check.claims.code, click: check.claims });
  }
  let tokenStatus = cookieCheck.status === "missing" ? urlCheck.status : cookieCheck.status;
  const existing = await findReferralByReferee(db, input.refereeId);
  if (existing) return { created: false, referral: existing, rewards: [], tokenStatus };

  if (input.code !== undefined) {
    const typed = parseCode(input.code);
    if (!typed) throw new ApiError(400, "invalid_request", "code: not a referral code", "code");
    carriers.push({ source: "code", code: typed });
  }
  const [best] = rankedCarriers(carriers);
  if (!best) {
    const token = tokenStatus === "missing" ? "no token was sent" : `the token is ${tokenStatus.replace("_", " ")}`;
    throw new ApiError(400, "no_attribution", `Nothing to attribute: ${token} and no code was given`);
  }
  const live = await liveCarrier(db, carriers);
  if (!live) throw new ApiError(404, "code_not_found", `No referral code ${best.code}`);
  const { carrier, owner } = live;
  if (carrier.click) tokenStatus = "valid";
  const code = carrier.code;
  const click = carrier.click;

  const clickId = click?.clickId ?? null;
  const refuse = async (reason: FraudReason): Promise<never> => {
    await recordBlockedAttribution(db, { code, refereeId: input.refereeId, reason, clickId }, now);
    throw new ApiError(422, reason, FRAUD_MESSAGES[reason]);
  };
  const reason = await fraudReason(deps, input, owner, click?.visitorHash);
  if (reason) await refuse(reason);

  // Copied onto the referral, so that its story outlives the click log's hot window.
  const details = click ? await clickDetails(db, deps.counters, { ...click, code }, config.clickShards) : null;
  const referralId = crypto.randomUUID();
  const grants = planSignupGrants(config.rules, {
    referralId,
    referrerId: owner.userId,
    refereeId: input.refereeId,
    at: now,
  });
  const signups = bumpCounterStatements(db, code, utcDay(now), "signups");
  const grantItems = grantStatements(db, grants, now);
  let results: D1Result[];
  try {
    results = await runBatch(db, [
      insertReferralStatement(
        db,
        {
          id: referralId,
          code,
          referrerId: owner.userId,
          refereeId: input.refereeId,
          clickId,
          source: carrier.source,
          refereeEmailHash: input.email ? await emailHash(config.visitorSalt, input.email) : null,
          status: "signed_up",
          signedUpAt: now,
        },
        capWindow(config.rules, now),
        config.maxRefereesPerClick,
      ),
      // Counters before grants: milestone grants read the new signup count.
      ...signups,
      ...grantItems,
      ...(click ? [recordVisitorStatement(db, input.refereeId, click.visitorHash, now)] : []),
      ...(details ? [referralClickStatement(db, referralId, details)] : []),
    ]);
  } catch (error) {
    // A concurrent call for the same referee won the unique key: return its referral.
    const winner = await findReferralByReferee(db, input.refereeId);
    if (winner) return { created: false, referral: winner, rewards: [], tokenStatus };
    // The batch found the click used up (it decides, so that concurrent uses cannot both pass).
    if (clickId && (await refereesOfClick(db, clickId)) >= config.maxRefereesPerClick) await refuse("same_click");
    throw error;
  }
  // The answer comes from the batch's own RETURNING rows: nothing is read after
  // the commit, so a request either fails having written nothing or succeeds.
  const [inserted] = (results[0]?.results ?? []) as Record<string, unknown>[];
  if (!inserted) throw new Error(`referral ${referralId} was not returned by its batch`);
  const granted = results
    .slice(1 + signups.length, 1 + signups.length + grantItems.length)
    .flatMap((result) => (result.results ?? []) as Record<string, unknown>[])
    .map(rewardFromRaw);
  return { created: true, referral: referralFromRaw(inserted), rewards: granted, tokenStatus };
}

async function fraudReason(
  deps: { db: Db; config: Config },
  input: AttributionInput,
  owner: { userId: string; emailHash: string | null },
  visitorHash: string | undefined,
): Promise<FraudReason | null> {
  if (owner.userId === input.refereeId) return "self_referral";
  if (input.email) {
    if (input.referrerEmail && normalizeEmail(input.email) === normalizeEmail(input.referrerEmail)) return "same_email";
    if (owner.emailHash && (await emailHash(deps.config.visitorSalt, input.email)) === owner.emailHash) {
      return "same_email";
    }
  }
  if (visitorHash && (await isUserVisitor(deps.db, owner.userId, visitorHash))) return "same_visitor";
  return null;
}
