import { and, eq, inArray, isNull, or, sql } from "drizzle-orm";
import type { ChargeFact, DisputeFact, PaymentFact } from "../../domain/conversion";
import type { BatchItem, Db } from "../client";
import {
  revenueDaily,
  stripeCharges,
  stripeCustomers,
  stripeDeferredEvents,
  stripeDisputes,
  stripeEvents,
  stripeGuards,
  stripePayments,
} from "../schema";

export async function eventProcessed(db: Db, id: string): Promise<boolean> {
  return (
    (await db.select({ id: stripeEvents.id }).from(stripeEvents).where(eq(stripeEvents.id, id)).get()) !== undefined
  );
}

/** The exactly-once marker: in the same batch as the event's effects, so a replay fails as a whole. */
export function processedStatement(db: Db, event: { id: string; type: string }, now: number): BatchItem {
  return db.insert(stripeEvents).values({ id: event.id, type: event.type, processedAt: now });
}

/** The current version of each subject (0 when never touched). */
export async function guardVersions(db: Db, subjects: readonly string[]): Promise<Map<string, number>> {
  const versions = new Map(subjects.map((subject) => [subject, 0]));
  if (subjects.length === 0) return versions;
  const rows = await db
    .select({ subject: stripeGuards.subject, version: sql<number>`max(${stripeGuards.version})` })
    .from(stripeGuards)
    .where(inArray(stripeGuards.subject, [...subjects]))
    .groupBy(stripeGuards.subject);
  for (const row of rows) versions.set(row.subject, row.version);
  return versions;
}

export function guardStatements(db: Db, versions: ReadonlyMap<string, number>, eventId: string): BatchItem[] {
  return [...versions].map(([subject, version]) =>
    db.insert(stripeGuards).values({ subject, version: version + 1, eventId }),
  );
}

export async function customerUser(db: Db, customerId: string): Promise<string | null> {
  const row = await db
    .select({ userId: stripeCustomers.userId })
    .from(stripeCustomers)
    .where(eq(stripeCustomers.customerId, customerId))
    .get();
  return row?.userId ?? null;
}

export async function customerOfUser(db: Db, userId: string): Promise<string | null> {
  const row = await db
    .select({ customerId: stripeCustomers.customerId })
    .from(stripeCustomers)
    .where(eq(stripeCustomers.userId, userId))
    .orderBy(stripeCustomers.createdAt)
    .get();
  return row?.customerId ?? null;
}

export function mapCustomerStatement(db: Db, customerId: string, userId: string, now: number): BatchItem {
  return db.insert(stripeCustomers).values({ customerId, userId, createdAt: now }).onConflictDoNothing();
}

export function deferredEvents(db: Db, customerId: string) {
  return db
    .select({ eventId: stripeDeferredEvents.eventId, payload: stripeDeferredEvents.payload })
    .from(stripeDeferredEvents)
    .where(eq(stripeDeferredEvents.customerId, customerId))
    .orderBy(stripeDeferredEvents.receivedAt);
}

export function deferStatement(db: Db, eventId: string, customerId: string, payload: string, now: number): BatchItem {
  return db
    .insert(stripeDeferredEvents)
    .values({ eventId, customerId, payload, receivedAt: now })
    .onConflictDoNothing();
}

export function dropDeferredStatement(db: Db, eventIds: readonly string[]): BatchItem {
  return db.delete(stripeDeferredEvents).where(inArray(stripeDeferredEvents.eventId, [...eventIds]));
}

/** Whose a dispute is, from the charges and payments already known. */
export async function disputeUser(db: Db, dispute: DisputeFact): Promise<string | null> {
  const charge = await db
    .select({ userId: stripeCharges.userId })
    .from(stripeCharges)
    .where(eq(stripeCharges.id, dispute.chargeId))
    .get();
  if (charge) return charge.userId;
  if (!dispute.paymentIntent) return null;
  const payment = await db
    .select({ userId: stripePayments.userId })
    .from(stripePayments)
    .where(eq(stripePayments.paymentIntent, dispute.paymentIntent))
    .get();
  return payment?.userId ?? null;
}

const disputeColumns = {
  id: stripeDisputes.id,
  chargeId: stripeDisputes.chargeId,
  paymentIntent: stripeDisputes.paymentIntent,
  status: stripeDisputes.status,
  statusAt: stripeDisputes.statusAt,
};

export async function storedDispute(db: Db, id: string): Promise<DisputeFact | undefined> {
  return db.select(disputeColumns).from(stripeDisputes).where(eq(stripeDisputes.id, id)).get();
}

export interface UserFacts {
  payments: PaymentFact[];
  charges: ChargeFact[];
  disputes: DisputeFact[];
}

const paymentColumns = {
  id: stripePayments.id,
  customerId: stripePayments.customerId,
  paymentIntent: stripePayments.paymentIntent,
  currency: stripePayments.currency,
  amount: stripePayments.amount,
  paidAt: stripePayments.paidAt,
};
const chargeColumns = {
  id: stripeCharges.id,
  customerId: stripeCharges.customerId,
  paymentIntent: stripeCharges.paymentIntent,
  currency: stripeCharges.currency,
  amount: stripeCharges.amount,
  amountRefunded: stripeCharges.amountRefunded,
  fullyRefundedAt: stripeCharges.fullyRefundedAt,
  createdAt: stripeCharges.createdAt,
};

/**
 * Everything known about a user's money: payments, charges, and disputes that
 * are theirs or that match one of their charges or payment intents (a dispute
 * stored before its owner was known).
 */
export async function userFacts(
  db: Db,
  userId: string,
  extra: { chargeIds: string[]; paymentIntents: string[] },
): Promise<UserFacts> {
  const [payments, charges] = await Promise.all([
    db.select(paymentColumns).from(stripePayments).where(eq(stripePayments.userId, userId)),
    db.select(chargeColumns).from(stripeCharges).where(eq(stripeCharges.userId, userId)),
  ]);
  const chargeIds = [...new Set([...charges.map((c) => c.id), ...extra.chargeIds])];
  const intents = [
    ...new Set([...payments, ...charges].map((fact) => fact.paymentIntent).filter((pi): pi is string => pi !== null)),
    ...extra.paymentIntents,
  ];
  const unowned = [
    ...(chargeIds.length > 0 ? [inArray(stripeDisputes.chargeId, chargeIds)] : []),
    ...(intents.length > 0 ? [inArray(stripeDisputes.paymentIntent, intents)] : []),
  ];
  const disputes = await db
    .select(disputeColumns)
    .from(stripeDisputes)
    .where(
      or(
        eq(stripeDisputes.userId, userId),
        unowned.length > 0 ? and(isNull(stripeDisputes.userId), or(...unowned)) : undefined,
      ),
    );
  return { payments, charges, disputes };
}

export function insertPaymentStatement(db: Db, userId: string, payment: PaymentFact): BatchItem {
  return db
    .insert(stripePayments)
    .values({ userId, ...payment })
    .onConflictDoNothing();
}

export function upsertChargeStatement(db: Db, userId: string, charge: ChargeFact): BatchItem {
  const { id, ...rest } = charge;
  return db
    .insert(stripeCharges)
    .values({ id, userId, ...rest })
    .onConflictDoUpdate({ target: stripeCharges.id, set: { userId, ...rest } });
}

export function upsertDisputeStatement(db: Db, userId: string | null, dispute: DisputeFact): BatchItem {
  const { id, ...rest } = dispute;
  return db
    .insert(stripeDisputes)
    .values({ id, userId, ...rest })
    .onConflictDoUpdate({ target: stripeDisputes.id, set: { userId, ...rest } });
}

export function revenueStatement(db: Db, day: string, currency: string, gross: number, refunded: number): BatchItem {
  return db
    .insert(revenueDaily)
    .values({ day, currency, gross, refunded })
    .onConflictDoUpdate({
      target: [revenueDaily.day, revenueDaily.currency],
      set: {
        gross: sql`${revenueDaily.gross} + excluded.gross`,
        refunded: sql`${revenueDaily.refunded} + excluded.refunded`,
      },
    });
}
