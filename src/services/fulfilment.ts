import { and, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import type Stripe from "stripe";
import type { Config } from "../config";
import { type Db, runBatch } from "../db/client";
import { clawbackStatement } from "../db/queries/rewards";
import { rewards, stripeCustomers } from "../db/schema";
import { describeError } from "../log";

export interface FulfilmentResult {
  applied: number;
  failed: number;
}

const BATCH = 25;

/**
 * Applies active credit rewards of users who are Stripe customers as customer
 * balance credits, then marks them redeemed. Run after webhooks and by the
 * cron, so a failure is retried on the next run; the idempotency key makes a
 * retry after a lost answer return the same balance transaction. Without a
 * Stripe client nothing happens and the rewards stay active.
 */
export async function fulfilCredits(
  deps: { db: Db; config: Config; stripe: Stripe | null },
  now: number,
  userId?: string,
): Promise<FulfilmentResult> {
  const { db, config, stripe } = deps;
  const creditTypes = Object.entries(config.rules.rewardTypes)
    .filter(([, type]) => type.kind === "credit")
    .map(([name]) => name);
  if (!stripe || creditTypes.length === 0) return { applied: 0, failed: 0 };

  const customer = sql<string | null>`(SELECT ${stripeCustomers.customerId} FROM ${stripeCustomers}
    WHERE ${stripeCustomers.userId} = ${rewards.userId} ORDER BY ${stripeCustomers.createdAt} LIMIT 1)`;
  const due = await db
    .select({
      id: rewards.id,
      amount: rewards.amount,
      currency: rewards.currency,
      rule: rewards.rule,
      referralId: rewards.referralId,
      userId: rewards.userId,
      type: rewards.type,
      dedupeKey: rewards.dedupeKey,
      triggerId: rewards.triggerId,
      customerId: customer,
    })
    .from(rewards)
    .where(
      and(
        inArray(rewards.type, creditTypes),
        eq(rewards.status, "active"),
        gt(rewards.amount, 0),
        isNull(rewards.fulfilledAt),
        sql`${customer} IS NOT NULL`,
        userId ? eq(rewards.userId, userId) : undefined,
      ),
    )
    .limit(BATCH);

  const result: FulfilmentResult = { applied: 0, failed: 0 };
  for (const reward of due) {
    if (!reward.customerId) continue;
    let transaction: Stripe.CustomerBalanceTransaction;
    try {
      transaction = await stripe.customers.createBalanceTransaction(
        reward.customerId,
        {
          // A negative balance is credit the customer's next invoices use up.
          amount: -reward.amount,
          currency: reward.currency ?? "usd",
          description: `Referral reward (${reward.rule})`,
          metadata: { reward_id: reward.id },
        },
        { idempotencyKey: `referral-reward-${reward.id}` },
      );
    } catch (error) {
      result.failed++;
      console.warn(
        `applying reward ${reward.id} as Stripe credit failed; it stays active and is retried: ${describeError(error)}`,
      );
      continue;
    }
    const [redeemed] = await db
      .update(rewards)
      .set({ status: "redeemed", redeemedAt: now, fulfilledAt: now, externalRef: transaction.id, updatedAt: now })
      .where(and(eq(rewards.id, reward.id), eq(rewards.status, "active")))
      .returning({ id: rewards.id });
    if (!redeemed) {
      // Revoked while the credit was being applied: the credit is out, so the ledger records the debt.
      await runBatch(db, [
        db
          .update(rewards)
          .set({ fulfilledAt: now, externalRef: transaction.id, updatedAt: now })
          .where(eq(rewards.id, reward.id)),
        clawbackStatement(db, reward, now),
      ]);
    }
    result.applied++;
  }
  return result;
}
