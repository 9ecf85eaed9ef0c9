import { and, eq, inArray, isNotNull } from "drizzle-orm";
import type { Config } from "../config";
import type { BatchItem, Db } from "../db/client";
import type { ReferralCodeRow } from "../db/queries/codes";
import {
  bumpCounterStatements,
  insertReferralStatement,
  isUserVisitor,
  type ReferralRow,
  recordVisitorStatement,
  refereesOfClick,
} from "../db/queries/referrals";
import { grantStatements } from "../db/queries/rewards";
import { blockedAttributions, referralCodes, referrals } from "../db/schema";
import { type Carrier, winningCarrier } from "../domain/attribution-source";
import { verifyAttributionToken } from "../domain/attribution-token";
import { emailHash } from "../domain/email";
import { capWindow, planSignupGrants } from "../domain/rules";
import { utcDay } from "../domain/visitor";
import type { CheckoutCarriers } from "../stripe/facts";
import { type FraudReason, liveCarrier } from "./attributions";
import { clickDetails, referralClickStatement } from "./referral-click";

/**
 * A checkout can attribute a buyer who has no referral yet: by a click token
 * the host forwarded as `client_reference_id = ref_<token>`, or by one of our
 * referrers' promotion codes applied at checkout. Which carrier wins is
 * decided by the same function as for a signup (domain/attribution-source.ts).
 */

interface Deps {
  db: Db;
  config: Config;
}

/** The carriers a checkout brings, verified: the click token at the checkout's time, our promotion codes. */
export interface CheckoutClaims {
  carriers: Carrier[];
  /** The keyed hash of the buyer's email, when Stripe sent one. */
  emailHash: string | null;
}

export async function readCheckoutCarriers(deps: Deps, checkout: CheckoutCarriers): Promise<CheckoutClaims> {
  const { db, config } = deps;
  const carriers: Carrier[] = [];
  if (checkout.token) {
    // Checked at the checkout's time, not at delivery: a late or retried event decides the same way.
    const check = await verifyAttributionToken(
      checkout.token,
      config.attributionKeys,
      checkout.at,
      config.attributionWindowMs,
    );
    if (check.status === "valid") carriers.push({ source: "url", code: check.claims.code, click: check.claims });
  }
  if (checkout.promotionCodes.length > 0) {
    const owned = await db
      .select({ code: referralCodes.code })
      .from(referralCodes)
      .where(inArray(referralCodes.stripePromotionCodeId, checkout.promotionCodes))
      .orderBy(referralCodes.code);
    for (const row of owned) carriers.push({ source: "promotion_code", code: row.code });
  }
  return {
    carriers,
    emailHash: checkout.email ? await emailHash(config.visitorSalt, checkout.email) : null,
  };
}

/**
 * Who pays in a checkout that names no host user (a Payment Link), in this
 * order: the buyer of a forwarded click or of our promotion code is a new
 * referee, known by their Stripe customer id; otherwise a buyer whose email
 * matches the keyed hash of exactly one referee is that referee.
 */
export async function checkoutUser(
  deps: Deps,
  claims: CheckoutClaims,
  customerId: string | null,
): Promise<{ userId: string; via: "customer" | "email_match" } | null> {
  const best = winningCarrier(claims.carriers);
  if (best?.source === "url" && customerId) return { userId: customerId, via: "customer" };
  if (claims.emailHash) {
    const matches = await deps.db
      .select({ refereeId: referrals.refereeId })
      .from(referrals)
      .where(and(eq(referrals.refereeEmailHash, claims.emailHash), isNotNull(referrals.refereeEmailHash)))
      .limit(2);
    const [match] = matches;
    if (match && matches.length === 1) return { userId: match.refereeId, via: "email_match" };
  }
  if (best && customerId) return { userId: customerId, via: "customer" };
  return null;
}

export type CheckoutAttribution =
  | { kind: "created"; referral: ReferralRow; statements: BatchItem[] }
  | { kind: "refused"; reason: FraudReason; statements: BatchItem[] }
  | { kind: "none" };

/**
 * The referral a checkout creates for a user who has none: the winning
 * carrier's code, the usual refusals (recorded once per event), and the
 * signup rewards by the same rules as a signup through the API, all as batch
 * statements for the event's own batch, so that the payment in the same
 * checkout converts it in that batch too.
 */
export async function attributeAtCheckout(
  deps: Deps,
  input: { eventId: string; refereeId: string; at: number; claims: CheckoutClaims },
  now: number,
): Promise<CheckoutAttribution> {
  const { db, config } = deps;
  const live = await liveCarrier(db, input.claims.carriers);
  if (!live) return { kind: "none" };
  const { carrier, owner } = live;

  const clickId = carrier.click?.clickId ?? null;
  const reason = await refusal(deps, input, owner, carrier);
  if (reason) {
    return {
      kind: "refused",
      reason,
      statements: [
        db
          .insert(blockedAttributions)
          .values({
            id: `stripe:${input.eventId}`,
            code: carrier.code,
            refereeId: input.refereeId,
            reason,
            clickId,
            createdAt: now,
          })
          .onConflictDoNothing(),
      ],
    };
  }

  const referral: ReferralRow = {
    id: crypto.randomUUID(),
    code: carrier.code,
    referrerId: owner.userId,
    refereeId: input.refereeId,
    clickId,
    source: carrier.source,
    status: "signed_up",
    referrerRewarded: false,
    signedUpAt: input.at,
    convertedAt: null,
    conversionPaymentId: null,
    clawedBackAt: null,
    canceledAt: null,
    refereeEmailHash: input.claims.emailHash,
    trialEndsAt: null,
    fraudReason: null,
    fraudAt: null,
  };
  // The click's details, as a signup through the API copies them; the click's flush has usually landed by checkout.
  const details = carrier.click
    ? await clickDetails(db, undefined, { ...carrier.click, code: carrier.code }, config.clickShards)
    : null;
  const grants = planSignupGrants(config.rules, {
    referralId: referral.id,
    referrerId: owner.userId,
    refereeId: input.refereeId,
    at: input.at,
  });
  return {
    kind: "created",
    referral,
    statements: [
      insertReferralStatement(db, referral, capWindow(config.rules, input.at), config.maxRefereesPerClick),
      // Counters before grants: milestone grants read the new signup count.
      ...bumpCounterStatements(db, referral.code, utcDay(input.at), "signups"),
      ...grantStatements(db, grants, now),
      ...(carrier.click ? [recordVisitorStatement(db, input.refereeId, carrier.click.visitorHash, now)] : []),
      ...(details ? [referralClickStatement(db, referral.id, details)] : []),
    ],
  };
}

async function refusal(
  deps: Deps,
  input: { refereeId: string; claims: CheckoutClaims },
  owner: ReferralCodeRow,
  carrier: Carrier,
): Promise<FraudReason | null> {
  if (owner.userId === input.refereeId) return "self_referral";
  if (owner.emailHash && input.claims.emailHash === owner.emailHash) return "same_email";
  if (carrier.click) {
    if (await isUserVisitor(deps.db, owner.userId, carrier.click.visitorHash)) return "same_visitor";
    if ((await refereesOfClick(deps.db, carrier.click.clickId)) >= deps.config.maxRefereesPerClick) return "same_click";
  }
  return null;
}
