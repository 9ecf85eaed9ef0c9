import { and, asc, eq, isNotNull, isNull, lte, or } from "drizzle-orm";
import type Stripe from "stripe";
import type { Config } from "../config";
import type { BatchItem, Db } from "../db/client";
import type { ReferralCodeRow } from "../db/queries/codes";
import { referralCodes } from "../db/schema";

/**
 * Each referrer's Stripe promotion code: a discount for the referee at
 * checkout, whose customer-facing code is the referral code itself. Creating
 * it never holds up the code: a failure is recorded on the code and retried by
 * the cron; the same idempotency key makes a retry return what a lost answer
 * created instead of creating a second one.
 */

export interface PromotionDeps {
  db: Db;
  config: Config;
  /** Null without STRIPE_SECRET_KEY. */
  stripe: Stripe | null;
}

export interface PromotionCodeState {
  id: string | null;
  active: boolean | null;
  /** Why the last attempt failed, while no promotion code exists; the cron retries it. */
  error: string | null;
}

/** The Idempotency-Key of a code's promotion code: one per referral code, for ever. */
export const promotionIdempotencyKey = (code: string) => `referral-promotion-code-${code}`;

/** True when codes get promotion codes: a Stripe key and the referee's coupon are both set. */
export function promotionCodesEnabled(config: Config): boolean {
  return config.stripeSecretKey !== undefined && config.refereeCoupon !== undefined;
}

/**
 * Creates the code's promotion code unless it has one. Returns the code's
 * promotion code state afterwards; never throws for Stripe's failures.
 */
export async function ensurePromotionCode(
  deps: PromotionDeps,
  row: ReferralCodeRow,
  now: number,
): Promise<PromotionCodeState> {
  const { db, config, stripe } = deps;
  const current = stateOf(row);
  if (row.stripePromotionCodeId || !stripe || !config.refereeCoupon) return current;
  try {
    const created = await stripe.promotionCodes.create(
      {
        promotion: { type: "coupon", coupon: config.refereeCoupon },
        code: row.code,
        restrictions: { first_time_transaction: true },
        metadata: { referral_code: row.code, referrer_id: row.userId },
      },
      { idempotencyKey: promotionIdempotencyKey(row.code) },
    );
    await db
      .update(referralCodes)
      .set({
        stripePromotionCodeId: created.id,
        stripePromotionCodeActive: created.active,
        promotionCodeError: null,
        promotionCodeAttemptedAt: now,
      })
      .where(eq(referralCodes.code, row.code));
    return { id: created.id, active: created.active, error: null };
  } catch (error) {
    const message = describe(error);
    console.warn(`Stripe promotion code for ${row.code} not created: ${message}`);
    await db
      .update(referralCodes)
      .set({ promotionCodeError: message, promotionCodeAttemptedAt: now })
      .where(and(eq(referralCodes.code, row.code), isNull(referralCodes.stripePromotionCodeId)));
    return { id: null, active: null, error: message };
  }
}

/** The cron's retry: codes whose promotion code failed, longest waiting first, a bounded number per run. */
export async function retryPromotionCodes(
  deps: PromotionDeps,
  now: number,
  limit = 25,
): Promise<{ created: number; failed: number }> {
  if (!deps.stripe || !deps.config.refereeCoupon) return { created: 0, failed: 0 };
  const waiting = await deps.db
    .select()
    .from(referralCodes)
    .where(and(isNull(referralCodes.stripePromotionCodeId), isNotNull(referralCodes.promotionCodeError)))
    .orderBy(asc(referralCodes.promotionCodeAttemptedAt))
    .limit(limit);
  let created = 0;
  let failed = 0;
  for (const row of waiting) {
    if ((await ensurePromotionCode(deps, row, now)).id) created++;
    else failed++;
  }
  return { created, failed };
}

export function stateOf(row: ReferralCodeRow): PromotionCodeState {
  return {
    id: row.stripePromotionCodeId,
    active: row.stripePromotionCodeActive,
    error: row.stripePromotionCodeId ? null : row.promotionCodeError,
  };
}

/** Stripe's error type and status, never its full message (it may repeat what we sent). */
function describe(error: unknown): string {
  const e = error as { type?: unknown; statusCode?: unknown; code?: unknown };
  const parts = [e.type, e.statusCode, e.code].filter((part) => typeof part === "string" || typeof part === "number");
  return (parts.length > 0 ? parts.join(" ") : "network error").slice(0, 200);
}

/**
 * What `promotion_code.updated` says, kept only when it is newer than what
 * the code shows: events arriving out of order end in the latest state.
 */
export function promotionCodeStateStatement(db: Db, update: { id: string; active: boolean; at: number }): BatchItem {
  return db
    .update(referralCodes)
    .set({ stripePromotionCodeActive: update.active, stripePromotionCodeSeenAt: update.at })
    .where(
      and(
        eq(referralCodes.stripePromotionCodeId, update.id),
        or(isNull(referralCodes.stripePromotionCodeSeenAt), lte(referralCodes.stripePromotionCodeSeenAt, update.at)),
      ),
    );
}
