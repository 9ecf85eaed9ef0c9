import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import type { Config } from "../config";
import { type BatchItem, type Db, runBatch } from "../db/client";
import {
  codeEmailOf,
  identitiesOf,
  recordIdentitiesStatements,
  referralsSharing,
} from "../db/queries/payment-identities";
import { bumpCounterStatements, findReferralByReferee, type ReferralRow } from "../db/queries/referrals";
import { rewardActionStatements, rewardsByDedupeKeys, rewardsOfReferralRules } from "../db/queries/rewards";
import {
  customerUser,
  deferredEvents,
  deferStatement,
  disputeUser,
  dropDeferredStatements,
  eventProcessed,
  guardStatements,
  guardVersions,
  insertPaymentStatement,
  mapCustomerStatement,
  paymentIntentUser,
  processedStatement,
  revenueStatement,
  storedDispute,
  unprocessableStatement,
  upsertChargeStatement,
  upsertDisputeStatement,
  userFacts,
} from "../db/queries/stripe";
import { blockedAttributions, referrals } from "../db/schema";
import { asChosen, bundleGrants } from "../domain/bundles";
import {
  type ChargeFact,
  type ConversionState,
  conversionRewardActions,
  conversionState,
  type DisputeFact,
  mergeCharge,
  mergeDispute,
  type PaymentFact,
} from "../domain/conversion";
import { plannedFromEntry } from "../domain/recurring";
import { type PlannedGrant, planConversionGrants } from "../domain/rules";
import {
  mergeIdentities,
  type PaymentIdentity,
  payerIdentities,
  SELF_REFERRAL_PAYMENT,
  selfReferralAt,
  selfReferralClawback,
} from "../domain/self-referral";
import { utcDay } from "../domain/visitor";
import { ApiError } from "../errors";
import { deferredFacts } from "../stripe/deferred";
import { type EventFacts, isUnprocessable } from "../stripe/facts";
import { eventFacts } from "../stripe/handlers";
import { chargeFact, chargeSchema } from "../stripe/handlers/charge-refunded";
import { attributeAtCheckout, checkoutUser, readCheckoutCarriers } from "./checkout-attribution";
import { promotionCodeStateStatement } from "./promotion-codes";
import { qualifiedMilestoneStatements } from "./qualified-milestones";
import { recurringRewardStatements } from "./recurring-rewards";

export interface StripeDeps {
  db: Db;
  config: Config;
  /** For dispute lookups; null without STRIPE_SECRET_KEY. */
  stripe: Stripe | null;
}

export type Outcome =
  | "duplicate"
  | "ignored"
  | "deferred"
  | "unresolved"
  | "not_referred"
  | "applied"
  | "refused"
  | "unprocessable";

export interface ProcessResult {
  outcome: Outcome;
  /** The referrer whose rewards may have changed: their credit may need fulfilling. */
  referrerId?: string;
}

interface Plan {
  versions: Map<string, number>;
  statements: BatchItem[];
  result: ProcessResult;
  /** The referee this plan creates a referral for. */
  retryIfReferred?: string;
}

/** Concurrent events on one customer retry this many times before asking Stripe to retry later. */
const MAX_ATTEMPTS = 8;

/** A verified event: the route has checked that it has an id, a type and an object. */
export interface VerifiedEvent {
  id: string;
  type: string;
  /** The connected account a Connect event is about. */
  account?: unknown;
  created?: unknown;
  data: { object: unknown };
}

/**
 * Applies one verified Stripe event exactly once: the event id, the facts it
 * brings and every effect derived from them commit in one D1 batch. A batch
 * that lost a race with another event on the same subjects rolls back and is
 * planned again from the newer state. A signed event whose object the
 * service cannot read is kept for the operator and changes nothing else:
 * Stripe would only send it again, identical, for three days.
 */
export async function processStripeEvent(deps: StripeDeps, event: VerifiedEvent, now: number): Promise<ProcessResult> {
  const { db } = deps;
  if (await eventProcessed(db, event.id)) return { outcome: "duplicate" };
  const facts = eventFacts(event);
  if (isUnprocessable(facts)) {
    console.warn(`Stripe event ${event.id} (${event.type}) is unprocessable: ${facts.reason}`);
    await runBatch(db, [unprocessableStatement(db, event, facts.reason, now)]).catch(async (error) => {
      if (!(await eventProcessed(db, event.id))) throw error;
    });
    return { outcome: "unprocessable" };
  }
  const account = typeof event.account === "string" ? event.account : undefined;
  const apiCharge = facts?.dispute ? await lookUpDisputedCharge(deps, facts.dispute, account) : undefined;
  // Who paid is hashed before anything else sees it: the card and email themselves are never kept.
  const read = facts ? await withIdentities(deps.config.visitorSalt, facts) : null;

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const plan: Plan = read
      ? await planEvent(deps, event.id, read, apiCharge, now)
      : { versions: new Map(), statements: [], result: { outcome: "ignored" as const } };
    try {
      await runBatch(db, [
        processedStatement(db, event, now),
        ...guardStatements(db, plan.versions, event.id),
        ...plan.statements,
      ]);
      return plan.result;
    } catch (error) {
      if (await eventProcessed(db, event.id)) return { outcome: "duplicate" };
      if (plan.retryIfReferred && (await findReferralByReferee(db, plan.retryIfReferred))) continue;
      const current = await guardVersions(db, [...plan.versions.keys()]);
      if ([...plan.versions].some(([subject, version]) => current.get(subject) !== version)) continue;
      throw error;
    }
  }
  throw new ApiError(503, "busy", "Too many concurrent changes for this customer; Stripe will retry");
}

/**
 * A dispute names only its charge: fetch that charge when it is not known and
 * the API is available. A charge the API cannot give (another account's, the
 * other mode's, gone) leaves the dispute unresolved, kept until its charge
 * shows up: a 5xx would only make Stripe resend the same event for days.
 */
async function lookUpDisputedCharge(
  deps: StripeDeps,
  dispute: DisputeFact,
  account: string | undefined,
): Promise<ChargeFact | undefined> {
  if (!deps.stripe || (await disputeUser(deps.db, dispute))) return undefined;
  let retrieved: unknown;
  try {
    retrieved = await deps.stripe.charges.retrieve(dispute.chargeId, {}, account ? { stripeAccount: account } : {});
  } catch (error) {
    // Stripe's answer says the charge is not there; anything else (network, 5xx, rate limit) is worth a retry.
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
      console.warn(`Stripe has no charge ${dispute.chargeId} for dispute ${dispute.id} (${status}); kept unresolved`);
      return undefined;
    }
    throw error;
  }
  const charge = chargeSchema.safeParse(retrieved);
  if (!charge.success) {
    console.warn(`Stripe charge ${dispute.chargeId} of dispute ${dispute.id} has an unexpected shape; not used`);
    return undefined;
  }
  return chargeFact(charge.data, null);
}

async function planEvent(
  deps: StripeDeps,
  eventId: string,
  facts: EventFacts,
  apiCharge: ChargeFact | undefined,
  now: number,
): Promise<Plan> {
  const { db } = deps;
  if (facts.promotionCode) {
    return {
      versions: new Map(),
      statements: [promotionCodeStateStatement(db, facts.promotionCode)],
      result: { outcome: "applied" },
    };
  }
  const charge = facts.charge ?? apiCharge;
  const customerId = facts.customerId ?? apiCharge?.customerId ?? null;
  const paymentIntent = facts.payment?.paymentIntent ?? charge?.paymentIntent ?? facts.dispute?.paymentIntent ?? null;
  let userId = facts.userId ?? (customerId ? await customerUser(db, customerId) : null);
  // A payment without a customer (a one-off checkout) is tied to its refunds by the payment intent.
  if (!userId && paymentIntent) userId = await paymentIntentUser(db, paymentIntent);
  if (!userId && facts.dispute) userId = await disputeUser(db, facts.dispute);
  // A checkout that names no user (a Payment Link): its carriers say who pays (services/checkout-attribution.ts).
  const claims = facts.checkout ? await readCheckoutCarriers(deps, facts.checkout) : null;
  let mappedUserId = facts.userId;
  if (!userId && claims) {
    const found = await checkoutUser(deps, claims, customerId);
    if (found) userId = mappedUserId = found.userId;
  }

  const subjects = new Set<string>();
  if (customerId) subjects.add(`customer:${customerId}`);
  if (userId) subjects.add(`user:${userId}`);
  for (const id of [charge?.id, facts.dispute?.chargeId]) if (id) subjects.add(`charge:${id}`);
  for (const pi of [facts.payment?.paymentIntent, charge?.paymentIntent, facts.dispute?.paymentIntent]) {
    if (pi) subjects.add(`pi:${pi}`);
  }
  const versions = await guardVersions(db, [...subjects]);
  const statements: BatchItem[] = [];
  let retryIfReferred: string | undefined;
  const plan = (outcome: Outcome, referrerId?: string): Plan => ({
    versions,
    statements,
    result: { outcome, ...(referrerId ? { referrerId } : {}) },
    ...(retryIfReferred ? { retryIfReferred } : {}),
  });

  if (mappedUserId && customerId) statements.push(mapCustomerStatement(db, customerId, mappedUserId, now));
  if (!userId) {
    if (facts.dispute) {
      // Kept without an owner; adopted when the disputed charge or payment shows up.
      statements.push(
        upsertDisputeStatement(db, null, mergeDispute(await storedDispute(db, facts.dispute.id), facts.dispute)),
      );
      return plan("unresolved");
    }
    const key = customerId ?? paymentIntent;
    if (key) {
      // An invoice (or refund) before its checkout: its facts are kept, applied when the checkout comes.
      // Without the checkout's carriers: they hold the buyer's email, and only a checkout uses them.
      statements.push(deferStatement(db, eventId, key, JSON.stringify({ ...facts, checkout: undefined }), now));
      return plan("deferred");
    }
    return plan("ignored");
  }

  // Only a checkout maps a customer (or a payment intent) to a user, so only a checkout releases deferred events.
  const keys = mappedUserId ? [customerId, facts.payment?.paymentIntent].filter((k): k is string => !!k) : [];
  const deferred = await deferredEvents(db, keys);
  statements.push(
    ...dropDeferredStatements(
      db,
      deferred.map((d) => d.eventId),
    ),
  );
  const released = await Promise.all(
    deferred
      .map((d) => deferredFacts(d.eventId, d.payload))
      .filter((f): f is EventFacts => f !== null)
      .map((f) => withIdentities(deps.config.visitorSalt, f)),
  );
  // What the payer paid with is kept whoever they are: a referrer's own payment may come after their referee's.
  const identities = mergeIdentities([facts, ...released].flatMap((f) => f.identities ?? []));
  statements.push(...recordIdentitiesStatements(db, userId, identities));
  const pending = new Map([[userId, identities]]);
  let referral = await findReferralByReferee(db, userId);
  if (!referral && claims && facts.checkout) {
    // First attribution wins: only a user with no referral yet is attributed at checkout.
    const attribution = await attributeAtCheckout(
      deps,
      { eventId, refereeId: userId, at: facts.checkout.at, claims },
      now,
    );
    if (attribution.kind === "refused") {
      statements.push(...attribution.statements);
      return plan("refused");
    }
    if (attribution.kind === "created") {
      statements.push(...attribution.statements);
      referral = attribution.referral;
      // A signup through the API for the same user may win the race: then plan again, as an existing referral.
      retryIfReferred = userId;
    }
  }
  // As a referrer: a referee who paid with this card or email before is a self-referral found now.
  const sharing = (await referralsSharing(db, userId, identities)).filter((r) => r.refereeId !== userId);
  for (const other of sharing) {
    const subject = `user:${other.refereeId}`;
    if (!versions.has(subject)) versions.set(subject, (await guardVersions(db, [subject])).get(subject) ?? 0);
    statements.push(...(await referralStatements(deps, other, [], now, pending)));
  }
  if (!referral) return plan(sharing.length > 0 ? "applied" : "not_referred", sharing.length > 0 ? userId : undefined);

  const incoming = [
    facts,
    ...released,
    ...(apiCharge ? [{ customerId: apiCharge.customerId, charge: apiCharge }] : []),
  ];
  statements.push(...(await referralStatements(deps, referral, incoming, now, pending)));
  return plan("applied", referral.referrerId);
}

/** An event's facts with who paid turned into keyed hashes (`identities`) and the raw values dropped. */
async function withIdentities(secret: string, facts: EventFacts): Promise<EventFacts> {
  if (!facts.payer) return facts;
  const { payer, ...rest } = facts;
  const identities = mergeIdentities([...(facts.identities ?? []), ...(await payerIdentities(secret, payer))]);
  return { ...rest, ...(identities.length > 0 ? { identities } : {}) };
}

/**
 * When the referral became a self-referral, if it did: the referee's and the
 * referrer's stored identities, those this event brings (`pending`), the
 * email the referee signed up with and the one the referrer gave with their code.
 */
async function selfReferralTime(
  db: Db,
  referral: ReferralRow,
  pending: ReadonlyMap<string, PaymentIdentity[]>,
): Promise<number | null> {
  const [referee, referrer, codeEmail] = await Promise.all([
    identitiesOf(db, referral.refereeId),
    identitiesOf(db, referral.referrerId),
    codeEmailOf(db, referral.referrerId),
  ]);
  const signupEmail: PaymentIdentity[] = referral.refereeEmailHash
    ? [{ kind: "email", hash: referral.refereeEmailHash, seenAt: referral.signedUpAt }]
    : [];
  return selfReferralAt(
    [...referee, ...(pending.get(referral.refereeId) ?? []), ...signupEmail],
    [...referrer, ...(pending.get(referral.referrerId) ?? []), ...codeEmail],
  );
}

/** Stores the new facts and brings the referral, its counters, revenue and rewards in line with all facts. */
async function referralStatements(
  deps: StripeDeps,
  referral: ReferralRow,
  incoming: EventFacts[],
  now: number,
  pending: ReadonlyMap<string, PaymentIdentity[]>,
): Promise<BatchItem[]> {
  const { db, config } = deps;
  const stored = await userFacts(db, referral.refereeId, {
    chargeIds: incoming.flatMap((f) => [f.charge?.id, f.dispute?.chargeId]).filter((id): id is string => !!id),
    paymentIntents: incoming
      .flatMap((f) => [f.payment?.paymentIntent, f.charge?.paymentIntent, f.dispute?.paymentIntent])
      .filter((pi): pi is string => !!pi),
  });
  const statements: BatchItem[] = [];

  const payments = new Map<string, PaymentFact>(stored.payments.map((p) => [p.id, p]));
  const charges = new Map<string, ChargeFact>(stored.charges.map((c) => [c.id, c]));
  const disputes = new Map<string, DisputeFact>(
    stored.disputes.map(({ userId: _owner, ...dispute }) => [dispute.id, dispute]),
  );
  const storedCharges = new Map(charges);
  let canceledAt = referral.canceledAt;
  let trialEndsAt = referral.trialEndsAt;

  for (const facts of incoming) {
    if (facts.payment && !payments.has(facts.payment.id)) {
      payments.set(facts.payment.id, facts.payment);
      statements.push(
        insertPaymentStatement(db, referral.refereeId, facts.payment),
        revenueStatement(db, utcDay(facts.payment.paidAt), facts.payment.currency, facts.payment.amount, 0),
      );
    }
    if (facts.charge) charges.set(facts.charge.id, mergeCharge(charges.get(facts.charge.id), facts.charge));
    if (facts.dispute) disputes.set(facts.dispute.id, mergeDispute(disputes.get(facts.dispute.id), facts.dispute));
    if (facts.canceledAt !== undefined) canceledAt = Math.min(canceledAt ?? facts.canceledAt, facts.canceledAt);
    if (facts.trialEndsAt !== undefined) trialEndsAt = Math.max(trialEndsAt ?? facts.trialEndsAt, facts.trialEndsAt);
  }
  for (const charge of charges.values()) {
    const before = storedCharges.get(charge.id);
    if (before && JSON.stringify(before) === JSON.stringify(charge)) continue;
    statements.push(upsertChargeStatement(db, referral.refereeId, charge));
    const refundedMore = charge.amountRefunded - (before?.amountRefunded ?? 0);
    if (refundedMore > 0)
      statements.push(revenueStatement(db, utcDay(charge.createdAt), charge.currency, 0, refundedMore));
  }
  const storedDisputes = new Map(stored.disputes.map((d) => [d.id, d]));
  for (const dispute of disputes.values()) {
    const before = storedDisputes.get(dispute.id);
    if (before && before.userId === referral.refereeId && sameDispute(before, dispute)) continue;
    statements.push(upsertDisputeStatement(db, referral.refereeId, dispute));
  }

  const fraudAt = await selfReferralTime(db, referral, pending);
  const state = withSelfReferral(
    conversionState([...payments.values()], [...charges.values()], [...disputes.values()], config.clawbackMs),
    fraudAt,
    config.clawbackMs,
  );
  const converting = state.converting;

  // The referral row and the conversion counters.
  const next = {
    status: converting ? ("converted" as const) : referral.status,
    convertedAt: converting?.paidAt ?? null,
    conversionPaymentId: converting?.id ?? null,
    clawedBackAt: state.clawedBackAt,
    canceledAt,
    trialEndsAt,
    fraudReason: fraudAt !== null ? SELF_REFERRAL_PAYMENT : referral.fraudReason,
    fraudAt: fraudAt ?? referral.fraudAt,
  };
  if (
    next.status !== referral.status ||
    next.convertedAt !== referral.convertedAt ||
    next.conversionPaymentId !== referral.conversionPaymentId ||
    next.clawedBackAt !== referral.clawedBackAt ||
    next.canceledAt !== referral.canceledAt ||
    next.trialEndsAt !== referral.trialEndsAt ||
    next.fraudReason !== referral.fraudReason ||
    next.fraudAt !== referral.fraudAt
  ) {
    statements.push(db.update(referrals).set(next).where(eq(referrals.id, referral.id)));
  }
  if (fraudAt !== null) {
    statements.push(
      // Listed in the console's fraud review with the attributions refused at signup; once per referral.
      db
        .insert(blockedAttributions)
        .values({
          id: `payment:${referral.id}`,
          code: referral.code,
          refereeId: referral.refereeId,
          reason: SELF_REFERRAL_PAYMENT,
          clickId: referral.clickId,
          createdAt: now,
        })
        .onConflictDoNothing(),
      ...(await signupTakeBackStatements(deps, referral, fraudAt, now)),
    );
  }
  if (converting && referral.convertedAt === null) {
    statements.push(...bumpCounterStatements(db, referral.code, utcDay(converting.paidAt), "conversions"));
  } else if (
    converting &&
    referral.convertedAt !== null &&
    utcDay(referral.convertedAt) !== utcDay(converting.paidAt)
  ) {
    // An earlier payment arrived late: the conversion moves to its day.
    statements.push(
      ...bumpCounterStatements(db, referral.code, utcDay(referral.convertedAt), "conversions", {
        delta: -1,
        total: false,
      }),
      ...bumpCounterStatements(db, referral.code, utcDay(converting.paidAt), "conversions", { total: false }),
    );
  }

  // The conversion rewards.
  if (!converting) return statements;
  const planned = planConversionGrants(config.rules, {
    referralId: referral.id,
    referrerId: referral.referrerId,
    refereeId: referral.refereeId,
    triggerId: converting.id,
    at: converting.paidAt,
    amount: converting.amount,
    currency: converting.currency,
  });
  const withDebts = (grants: PlannedGrant[]) =>
    grants.flatMap((grant) => [grant.dedupeKey, `${grant.dedupeKey}:clawback`]);
  const existing = new Map((await rewardsByDedupeKeys(db, withDebts(planned))).map((row) => [row.dedupeKey, row]));
  // An entry whose option was taken is that option; a chosen bundle's further entries share its fate.
  const chosen = planned.map((grant) => asChosen(grant, existing.get(grant.dedupeKey)));
  const bundles = planned.flatMap((grant) => bundleGrants(grant, existing.get(grant.dedupeKey)));
  for (const row of await rewardsByDedupeKeys(db, withDebts(bundles))) existing.set(row.dedupeKey, row);
  const actions = conversionRewardActions([...chosen, ...bundles], existing, state);
  statements.push(...rewardActionStatements(db, actions, now));
  // Rules that reward each of the referee's first invoices.
  statements.push(
    ...(await recurringRewardStatements(
      { db, config },
      referral,
      { payments: [...payments.values()], charges: [...charges.values()], disputes: [...disputes.values()] },
      now,
      fraudAt,
    )),
  );
  // Milestones that count qualified conversions: this referral may have just qualified or stopped qualifying.
  statements.push(
    ...(await qualifiedMilestoneStatements(
      { db, config },
      referral.referrerId,
      { referralId: referral.id, convertedAt: next.convertedAt, clawedBackAt: next.clawedBackAt },
      now,
    )),
  );
  return statements;
}

const sameDispute = (a: DisputeFact, b: DisputeFact) =>
  a.chargeId === b.chargeId &&
  a.paymentIntent === b.paymentIntent &&
  a.status === b.status &&
  a.statusAt === b.statusAt;

/**
 * A self-referral found at `fraudAt` takes the conversion back as a refund
 * would: when it is known within the clawback window of the converting
 * payment (or before it), the conversion is clawed back from then on.
 */
function withSelfReferral(state: ConversionState, fraudAt: number | null, clawbackMs: number): ConversionState {
  const at = state.converting ? selfReferralClawback(fraudAt, state.converting.paidAt, clawbackMs) : null;
  if (at === null) return state;
  return { ...state, clawedBackAt: Math.min(state.clawedBackAt ?? at, at), held: false };
}

/**
 * The referral's signup rewards (both sides, bundles included), taken back
 * for a self-referral found within the clawback window of the signup: unspent
 * ones revoked, spent ones by a debt, as conversion rewards are.
 */
async function signupTakeBackStatements(
  deps: { db: Db; config: Config },
  referral: ReferralRow,
  fraudAt: number,
  now: number,
): Promise<BatchItem[]> {
  const { db, config } = deps;
  const clawedBackAt = selfReferralClawback(fraudAt, referral.signedUpAt, config.clawbackMs);
  const ruleIds = [...config.rules.signup.referrer, ...config.rules.signup.referee].map((grant) => grant.id);
  if (clawedBackAt === null || ruleIds.length === 0) return [];
  const entries = await rewardsOfReferralRules(db, referral.id, ruleIds);
  const existing = new Map(entries.map((entry) => [entry.dedupeKey, entry]));
  const grants = entries
    .filter((entry) => entry.trigger !== "clawback")
    .map((entry) => plannedFromEntry(entry, entry.userId === referral.referrerId ? "referrer" : "referee"));
  const actions = conversionRewardActions(grants, existing, { converting: null, clawedBackAt, held: false });
  return rewardActionStatements(db, actions, now);
}
