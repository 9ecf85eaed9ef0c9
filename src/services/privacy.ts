import { eq, inArray, sql } from "drizzle-orm";
import { type BatchItem, type Db, runBatch } from "../db/client";
import {
  blockedAttributions,
  codeDaily,
  outboxEvents,
  referralCodes,
  referrals,
  rewards,
  stripeCharges,
  stripeCustomers,
  stripeDeferredEvents,
  stripeDisputes,
  stripePayments,
  userVisitors,
} from "../db/schema";

/** Tombstones start with this: an id no host product hands out. */
export const ERASED_PREFIX = "erased:";

/** Everything stored about one user of the host product, as one JSON document. */
export async function exportUser(db: Db, userId: string) {
  const code = await db.select().from(referralCodes).where(eq(referralCodes.userId, userId)).get();
  const customers = await db.select().from(stripeCustomers).where(eq(stripeCustomers.userId, userId));
  const [made, referredBy, ledger, visitors, blocked, payments, charges, disputes, daily] = await Promise.all([
    db.select().from(referrals).where(eq(referrals.referrerId, userId)).orderBy(referrals.signedUpAt),
    db.select().from(referrals).where(eq(referrals.refereeId, userId)).get(),
    db.select().from(rewards).where(eq(rewards.userId, userId)).orderBy(rewards.createdAt),
    db.select().from(userVisitors).where(eq(userVisitors.userId, userId)),
    db.select().from(blockedAttributions).where(eq(blockedAttributions.refereeId, userId)),
    db.select().from(stripePayments).where(eq(stripePayments.userId, userId)),
    db.select().from(stripeCharges).where(eq(stripeCharges.userId, userId)),
    db.select().from(stripeDisputes).where(eq(stripeDisputes.userId, userId)),
    code
      ? db.select().from(codeDaily).where(eq(codeDaily.code, code.code)).orderBy(codeDaily.day)
      : Promise.resolve([]),
  ]);
  const found =
    code !== undefined ||
    referredBy !== undefined ||
    [made, ledger, visitors, blocked, customers, payments].some((rows) => rows.length > 0);
  if (!found) return undefined;
  return {
    userId,
    exportedAt: new Date().toISOString(),
    note: "Times are epoch milliseconds. Visitor hashes are salted daily and cannot be turned back into an IP.",
    code: code ?? null,
    codeDailyStats: daily,
    referralsMade: made,
    referredBy: referredBy ?? null,
    rewards: ledger,
    visitorHashes: visitors,
    refusedAttributions: blocked,
    stripe: { customers, payments, charges, disputes },
  };
}

/**
 * Erases a user's personal data: every place their id appears gets the same
 * random tombstone (so the ledger's amounts and the counters still add up),
 * their display name, email hash and visitor hashes go, their referral loses
 * the link to the click that brought them, and Stripe payloads held for them
 * are dropped, and so are outbound events that name them, in one atomic batch. The code keeps working and counting: its
 * counter never knew whose it was.
 */
export async function eraseUser(db: Db, userId: string) {
  const exported = await exportUser(db, userId);
  if (!exported) return undefined;
  const tombstone = `${ERASED_PREFIX}${crypto.randomUUID()}`;
  const customerIds = exported.stripe.customers.map((c) => c.customerId);
  const statements: BatchItem[] = [
    db
      .update(referralCodes)
      .set({ userId: tombstone, displayName: null, emailHash: null })
      .where(eq(referralCodes.userId, userId)),
    db.update(referrals).set({ referrerId: tombstone }).where(eq(referrals.referrerId, userId)),
    db.update(referrals).set({ refereeId: tombstone, clickId: null }).where(eq(referrals.refereeId, userId)),
    db.update(rewards).set({ userId: tombstone }).where(eq(rewards.userId, userId)),
    db.update(blockedAttributions).set({ refereeId: tombstone }).where(eq(blockedAttributions.refereeId, userId)),
    db.delete(userVisitors).where(eq(userVisitors.userId, userId)),
    db.update(stripeCustomers).set({ userId: tombstone }).where(eq(stripeCustomers.userId, userId)),
    db.update(stripePayments).set({ userId: tombstone }).where(eq(stripePayments.userId, userId)),
    db.update(stripeCharges).set({ userId: tombstone }).where(eq(stripeCharges.userId, userId)),
    db.update(stripeDisputes).set({ userId: tombstone }).where(eq(stripeDisputes.userId, userId)),
    // Events still about this user: undelivered ones are dropped, delivered ones lose the user.
    db.run(sql`
      DELETE FROM ${outboxEvents}
      WHERE ${userId} IN (json_extract(payload, '$.userId'), json_extract(payload, '$.referrerId'),
                          json_extract(payload, '$.refereeId'))`),
    ...(customerIds.length > 0
      ? [db.delete(stripeDeferredEvents).where(inArray(stripeDeferredEvents.customerId, customerIds))]
      : []),
  ];
  await runBatch(db, statements);
  return {
    tombstone,
    erased: {
      code: exported.code ? 1 : 0,
      referralsMade: exported.referralsMade.length,
      referredBy: exported.referredBy ? 1 : 0,
      rewards: exported.rewards.length,
      visitorHashes: exported.visitorHashes.length,
      stripeCustomers: customerIds.length,
    },
  };
}
