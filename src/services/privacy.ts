import { eq, inArray, sql } from "drizzle-orm";
import { type BatchItem, type Db, runBatch } from "../db/client";
import {
  blockedAttributions,
  clicks,
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
  const customerIds = customers.map((customer) => customer.customerId);
  const [referringClick, heldEvents, events] = await Promise.all([
    referredBy?.clickId ? db.select().from(clicks).where(eq(clicks.id, referredBy.clickId)).get() : undefined,
    customerIds.length > 0
      ? db.select().from(stripeDeferredEvents).where(inArray(stripeDeferredEvents.customerId, customerIds))
      : Promise.resolve([]),
    db
      .select({ id: outboxEvents.id, type: outboxEvents.type, payload: outboxEvents.payload })
      .from(outboxEvents)
      .where(
        sql`${userId} IN (json_extract(${outboxEvents.payload}, '$.userId'), json_extract(${outboxEvents.payload}, '$.referrerId'),
                          json_extract(${outboxEvents.payload}, '$.refereeId'))`,
      )
      .orderBy(outboxEvents.sequence),
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
    clickThatReferredThem: referringClick ?? null,
    stripe: {
      customers,
      payments,
      charges,
      disputes,
      heldEvents: heldEvents.map((event) => ({ ...event, payload: JSON.parse(event.payload) as unknown })),
    },
    events: events.map((event) => ({ ...event, payload: JSON.parse(event.payload) as unknown })),
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
    // Events for this user are dropped; events for others that name this user
    // as their referrer or referee keep going, naming the tombstone instead.
    db.run(sql`DELETE FROM ${outboxEvents} WHERE json_extract(payload, '$.userId') = ${userId}`),
    ...(["referrerId", "refereeId"] as const).map((field) =>
      db.run(sql`
        UPDATE ${outboxEvents} SET payload = json_set(payload, ${`$.${field}`}, ${tombstone})
        WHERE json_extract(payload, ${`$.${field}`}) = ${userId}`),
    ),
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
