import { eq, inArray, type SQL, sql } from "drizzle-orm";
import { type BatchItem, type Db, runBatch } from "../db/client";
import {
  adminAudit,
  blockedAttributions,
  clickBacklog,
  clicks,
  clicksLegacy,
  codeDaily,
  outboxEvents,
  paymentIdentities,
  referralClicks,
  referralCodes,
  referrals,
  rewards,
  stripeCharges,
  stripeCustomers,
  stripeDeferredEvents,
  stripeDisputes,
  stripeGuards,
  stripePayments,
  userVisitors,
} from "../db/schema";
import { generateCode } from "../domain/codes";
import { type CodeCounter, counterName, counterStub } from "../durable-objects/code-counter";
import { forgetCodeStatus } from "./clicks";

/** Tombstones start with this: an id no host product hands out. */
export const ERASED_PREFIX = "erased:";

/** The user's Stripe customers, as a subquery: a user may have any number, and D1 binds at most 100 values. */
const customersOf = (db: Db, userId: string) =>
  db.select({ id: stripeCustomers.customerId }).from(stripeCustomers).where(eq(stripeCustomers.userId, userId));

/** Everything stored about one user of the host product, as one JSON document. */
export async function exportUser(db: Db, userId: string) {
  const code = await db.select().from(referralCodes).where(eq(referralCodes.userId, userId)).get();
  const customers = await db.select().from(stripeCustomers).where(eq(stripeCustomers.userId, userId));
  const [made, referredBy, ledger, visitors, blocked, payments, charges, disputes, daily, paidWith] = await Promise.all(
    [
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
      db.select().from(paymentIdentities).where(eq(paymentIdentities.userId, userId)),
    ],
  );
  const [referringClick, heldEvents, events, operatorActions] = await Promise.all([
    referredBy ? db.select().from(referralClicks).where(eq(referralClicks.referralId, referredBy.id)).get() : undefined,
    db
      .select()
      .from(stripeDeferredEvents)
      .where(inArray(stripeDeferredEvents.customerId, customersOf(db, userId))),
    db
      .select({ id: outboxEvents.id, type: outboxEvents.type, payload: outboxEvents.payload })
      .from(outboxEvents)
      .where(
        sql`${userId} IN (json_extract(${outboxEvents.payload}, '$.userId'), json_extract(${outboxEvents.payload}, '$.referrerId'),
                          json_extract(${outboxEvents.payload}, '$.refereeId'))`,
      )
      .orderBy(outboxEvents.sequence),
    db.select().from(adminAudit).where(eq(adminAudit.userId, userId)).orderBy(adminAudit.createdAt),
  ]);
  const found =
    code !== undefined ||
    referredBy !== undefined ||
    [made, ledger, visitors, blocked, customers, payments, paidWith].some((rows) => rows.length > 0);
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
      /** Keyed hashes of the cards and billing emails they paid with, for self-referral checks. */
      paidWith,
    },
    events: events.map((event) => ({ ...event, payload: JSON.parse(event.payload) as unknown })),
    operatorActions,
  };
}

/** What erasure needs besides D1: the counter objects that know the user's code. */
export interface ErasureDeps {
  db: Db;
  counters: DurableObjectNamespace<CodeCounter>;
  clickShards: number;
}

/** Erasure is one atomic batch; one that lost a race (a Stripe event, a code collision) is planned again. */
const MAX_ATTEMPTS = 4;

/**
 * Erases a user's personal data: every place their id appears gets the same
 * random tombstone (so the ledger's amounts and the counters still add up),
 * their display name, email hash, visitor hashes and the hashes of what they
 * paid with go, their referral loses the link to the click that brought
 * them, Stripe payloads held for them are dropped, and so are outbound
 * events that name them, in one atomic batch.
 *
 * Their code is retired: it carries part of their name, so every row that
 * names it is moved to a fresh code with a random name part, and its counter
 * objects forget the old one. Old share links then act like any unknown code
 * (they still redirect, and refer nobody, as a tombstone's link did before).
 */
export async function eraseUser(deps: ErasureDeps, userId: string) {
  for (let attempt = 1; ; attempt++) {
    const exported = await exportUser(deps.db, userId);
    if (!exported) return undefined;
    const tombstone = `${ERASED_PREFIX}${crypto.randomUUID()}`;
    const code = exported.code ? { old: exported.code.code, next: retiredCode(exported.code.code) } : null;
    // Forgotten first: until the batch commits, the old code's clicks are not
    // counted rather than counted under a name that is about to go.
    if (code) await forgetCode(deps, code.old);
    try {
      await runBatch(deps.db, erasureStatements(deps.db, userId, tombstone, code));
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS) throw error;
      continue;
    }
    if (code) await counterStub(deps.counters, code.next, 0).register(code.next);
    return {
      tombstone,
      erased: {
        code: exported.code ? 1 : 0,
        referralsMade: exported.referralsMade.length,
        referredBy: exported.referredBy ? 1 : 0,
        rewards: exported.rewards.length,
        visitorHashes: exported.visitorHashes.length,
        stripeCustomers: exported.stripe.customers.length,
      },
    };
  }
}

/** A fresh code with the old one's program prefix and a random name part, like a code made without a name. */
function retiredCode(old: string): string {
  return generateCode(old.slice(0, old.indexOf("-")), undefined);
}

async function forgetCode(deps: ErasureDeps, code: string): Promise<void> {
  const names = new Set(Array.from({ length: deps.clickShards }, (_, shard) => counterName(code, shard)));
  await Promise.all([...names].map((name) => deps.counters.getByName(name).forget(code)));
  forgetCodeStatus(code);
}

function erasureStatements(
  db: Db,
  userId: string,
  tombstone: string,
  code: { old: string; next: string } | null,
): BatchItem[] {
  const padded = sql`(':' || ${rewards.dedupeKey} || ':')`;
  // Twice, for a key that names the user in two parts in a row.
  const once = sql`replace(${padded}, ${`:${userId}:`}, ${`:${tombstone}:`})`;
  const replaced = sql`replace(${once}, ${`:${userId}:`}, ${`:${tombstone}:`})`;
  return [
    ...guardStatements(db, userId),
    db
      .update(referralCodes)
      .set({ userId: tombstone, displayName: null, emailHash: null, ...(code ? { code: code.next } : {}) })
      .where(eq(referralCodes.userId, userId)),
    ...(code ? renameCodeStatements(db, code.old, code.next) : []),
    db.update(referrals).set({ referrerId: tombstone }).where(eq(referrals.referrerId, userId)),
    // The details of the click that brought them go with the link to it.
    db
      .delete(referralClicks)
      .where(
        inArray(
          referralClicks.referralId,
          db.select({ id: referrals.id }).from(referrals).where(eq(referrals.refereeId, userId)),
        ),
      ),
    db
      .update(referrals)
      .set({ refereeId: tombstone, clickId: null, refereeEmailHash: null })
      .where(eq(referrals.refereeId, userId)),
    // Dedupe keys name the user where a grant is once per user (`milestone:<userId>:<rule>`):
    // the id is replaced wherever it is a whole `:`-separated part, before the rows change owner.
    db.run(sql`
      UPDATE ${rewards} SET dedupe_key = substr(${replaced}, 2, length(${replaced}) - 2)
      WHERE user_id = ${userId} AND instr(${padded}, ${`:${userId}:`}) > 0`),
    db.update(rewards).set({ userId: tombstone }).where(eq(rewards.userId, userId)),
    db.update(blockedAttributions).set({ refereeId: tombstone }).where(eq(blockedAttributions.refereeId, userId)),
    db.delete(userVisitors).where(eq(userVisitors.userId, userId)),
    db.delete(paymentIdentities).where(eq(paymentIdentities.userId, userId)),
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
    // A failed delivery's error may quote the host's answer, which may name the user.
    db.run(sql`UPDATE ${outboxEvents} SET last_error = NULL WHERE instr(last_error, ${userId}) > 0`),
    // The console's audit log keeps what operators did and why, naming the tombstone.
    db.update(adminAudit).set({ userId: tombstone }).where(eq(adminAudit.userId, userId)),
    db.run(
      sql`UPDATE ${adminAudit} SET note = replace(note, ${userId}, ${tombstone}) WHERE instr(note, ${userId}) > 0`,
    ),
    db.delete(stripeDeferredEvents).where(inArray(stripeDeferredEvents.customerId, customersOf(db, userId))),
  ];
}

/**
 * The Stripe guards (optimistic locks, see `stripe_guards`) that name the
 * user go: `user:<id>` rows would tie the raw id to the events, and through
 * them to the customer the tombstone now owns. Deleting them resets that
 * subject to version 0, which is safe: later events reach the user through
 * the customer, as `user:<tombstone>`, a new subject. An event already in
 * flight for this user read the old versions of its customer, charge and
 * payment-intent subjects; those are bumped in the same batch, so such an
 * event fails on its guard, retries, and sees the tombstone.
 */
function guardStatements(db: Db, userId: string): BatchItem[] {
  // Whatever the user's Stripe history, the subjects come from SQL, not from bound values;
  // two statements, as D1 allows few terms in one compound SELECT. A subject bumped twice is still just newer.
  const bump = (subjects: SQL) =>
    db.run(sql`
      INSERT INTO ${stripeGuards} (subject, version, event_id)
      SELECT s.subject,
        coalesce((SELECT max(g.version) FROM ${stripeGuards} AS g WHERE g.subject = s.subject), 0) + 1, 'erasure'
      FROM (${subjects}) AS s`);
  return [
    bump(sql`SELECT 'customer:' || customer_id AS subject FROM ${stripeCustomers} WHERE user_id = ${userId}
      UNION SELECT 'charge:' || id FROM ${stripeCharges} WHERE user_id = ${userId}
      UNION SELECT 'charge:' || charge_id FROM ${stripeDisputes} WHERE user_id = ${userId}`),
    bump(sql`SELECT 'pi:' || payment_intent AS subject FROM ${stripePayments}
        WHERE user_id = ${userId} AND payment_intent IS NOT NULL
      UNION SELECT 'pi:' || payment_intent FROM ${stripeCharges} WHERE user_id = ${userId} AND payment_intent IS NOT NULL
      UNION SELECT 'pi:' || payment_intent FROM ${stripeDisputes} WHERE user_id = ${userId} AND payment_intent IS NOT NULL`),
    db.delete(stripeGuards).where(eq(stripeGuards.subject, `user:${userId}`)),
  ];
}

/** Every row that names the old code names the new one; clicks still waiting in the backlog are dropped. */
function renameCodeStatements(db: Db, old: string, next: string): BatchItem[] {
  return [
    db.update(referrals).set({ code: next }).where(eq(referrals.code, old)),
    db.update(clicks).set({ code: next }).where(eq(clicks.code, old)),
    db.update(clicksLegacy).set({ code: next }).where(eq(clicksLegacy.code, old)),
    db.update(codeDaily).set({ code: next }).where(eq(codeDaily.code, old)),
    db.update(blockedAttributions).set({ code: next }).where(eq(blockedAttributions.code, old)),
    // Replayed, they would reach a counter that no longer knows the old code and be dropped anyway.
    db.run(sql`DELETE FROM ${clickBacklog} WHERE json_extract(click, '$.code') = ${old}`),
    db.run(sql`
      UPDATE ${outboxEvents} SET payload = json_set(payload, '$.code', ${next})
      WHERE json_extract(payload, '$.code') = ${old}`),
  ];
}
