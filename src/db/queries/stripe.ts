import { and, eq, inArray, isNull, or, type SQL, sql } from "drizzle-orm";
import type { ChargeFact, DisputeFact, PaymentFact } from "../../domain/conversion";
import { type BatchItem, chunkRows, type Db } from "../client";
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

/** Personal fields Stripe objects carry, removed from anything kept for the operator. */
const PERSONAL_FIELDS = new Set([
  "address",
  "billing_details",
  "client_reference_id",
  "collected_information",
  "customer_address",
  "customer_details",
  "customer_email",
  "customer_name",
  "customer_phone",
  "customer_shipping",
  "customer_tax_ids",
  "email",
  "metadata",
  "name",
  "phone",
  "receipt_email",
  "shipping",
  "shipping_details",
]);
/** An unprocessable payload is kept up to this size; the reason says what did not fit. */
const MAX_KEPT_PAYLOAD = 16_384;

function withoutPersonalFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutPersonalFields);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !PERSONAL_FIELDS.has(key))
      .map(([key, inner]) => [key, withoutPersonalFields(inner)]),
  );
}

/**
 * A signed event the service cannot read: marked processed (so it is not read
 * again) with the reason and its payload, personal fields removed, for the operator.
 */
export function unprocessableStatement(
  db: Db,
  event: { id: string; type: string },
  reason: string,
  now: number,
): BatchItem {
  const payload = JSON.stringify(withoutPersonalFields(event));
  return db.insert(stripeEvents).values({
    id: event.id,
    type: event.type,
    processedAt: now,
    outcome: "unprocessable",
    reason: reason.slice(0, 500),
    payload: payload.length <= MAX_KEPT_PAYLOAD ? payload : null,
  });
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

/** Events waiting for one of `keys` (a customer id, or the payment intent of a payment without a customer). */
export function deferredEvents(db: Db, keys: readonly string[]) {
  if (keys.length === 0) return Promise.resolve([]);
  return db
    .select({ eventId: stripeDeferredEvents.eventId, payload: stripeDeferredEvents.payload })
    .from(stripeDeferredEvents)
    .where(inArray(stripeDeferredEvents.customerId, [...keys]))
    .orderBy(stripeDeferredEvents.receivedAt);
}

export function deferStatement(db: Db, eventId: string, customerId: string, payload: string, now: number): BatchItem {
  return db
    .insert(stripeDeferredEvents)
    .values({ eventId, customerId, payload, receivedAt: now })
    .onConflictDoNothing();
}

/** Deletes released events, in statements that stay under D1's parameter limit whatever their number. */
export function dropDeferredStatements(db: Db, eventIds: readonly string[]): BatchItem[] {
  return chunkRows(eventIds, 1).map((chunk) =>
    db.delete(stripeDeferredEvents).where(inArray(stripeDeferredEvents.eventId, chunk)),
  );
}

/** Whose payment intent this is, from the payments and charges already known. */
export async function paymentIntentUser(db: Db, paymentIntent: string): Promise<string | null> {
  const payment = await db
    .select({ userId: stripePayments.userId })
    .from(stripePayments)
    .where(eq(stripePayments.paymentIntent, paymentIntent))
    .get();
  if (payment) return payment.userId;
  const charge = await db
    .select({ userId: stripeCharges.userId })
    .from(stripeCharges)
    .where(eq(stripeCharges.paymentIntent, paymentIntent))
    .get();
  return charge?.userId ?? null;
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
  disputes: (DisputeFact & { userId: string | null })[];
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
 * stored before its owner was known). The user's own charges and intents are
 * matched in SQL, so the bound parameters do not grow with the user's history;
 * the ids the incoming events bring are bound in chunks.
 */
export async function userFacts(
  db: Db,
  userId: string,
  extra: { chargeIds: string[]; paymentIntents: string[] },
): Promise<UserFacts> {
  const ownCharges = db.select({ id: stripeCharges.id }).from(stripeCharges).where(eq(stripeCharges.userId, userId));
  const ownIntents = sql`SELECT ${stripePayments.paymentIntent} FROM ${stripePayments} WHERE ${stripePayments.userId} = ${userId}
    UNION SELECT ${stripeCharges.paymentIntent} FROM ${stripeCharges} WHERE ${stripeCharges.userId} = ${userId}`;
  const disputeQuery = (unowned: SQL | undefined) =>
    db
      .select({ ...disputeColumns, userId: stripeDisputes.userId })
      .from(stripeDisputes)
      .where(or(eq(stripeDisputes.userId, userId), and(isNull(stripeDisputes.userId), unowned)));
  const [payments, charges, disputes, ...extraDisputes] = await Promise.all([
    db.select(paymentColumns).from(stripePayments).where(eq(stripePayments.userId, userId)),
    db.select(chargeColumns).from(stripeCharges).where(eq(stripeCharges.userId, userId)),
    disputeQuery(
      or(inArray(stripeDisputes.chargeId, ownCharges), sql`${stripeDisputes.paymentIntent} IN (${ownIntents})`),
    ),
    // Two parameters per id leaves room for the user id.
    ...chunkRows([...new Set(extra.chargeIds)], 2).map((ids) => disputeQuery(inArray(stripeDisputes.chargeId, ids))),
    ...chunkRows([...new Set(extra.paymentIntents)], 2).map((pis) =>
      disputeQuery(inArray(stripeDisputes.paymentIntent, pis)),
    ),
  ]);
  const byId = new Map([...disputes, ...extraDisputes.flat()].map((dispute) => [dispute.id, dispute]));
  return { payments, charges, disputes: [...byId.values()] };
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
