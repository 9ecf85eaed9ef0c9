import { eq } from "drizzle-orm";
import type { Config } from "../config";
import { type Db, runBatch } from "../db/client";
import {
  activeEntries,
  bundleEntries,
  choicesDue,
  chooseStatements,
  findReward,
  listRewards,
  type PageCursor,
  type RewardRow,
  redeemReward,
} from "../db/queries/rewards";
import { guardStatements, guardVersions } from "../db/queries/stripe";
import { referrals } from "../db/schema";
import { offersOf } from "../domain/bundles";
import { fromBase64Url, toBase64Url } from "../domain/crypto";
import { computeEntitlements, type Entitlements, statusAt } from "../domain/ledger";
import type { ChoiceOffer, OfferedReward } from "../domain/rules";
import { ApiError } from "../errors";
import { describeError } from "../log";

/**
 * A ledger entry as the API shows it, with its status at `now`: a pending
 * entry whose hold has ended shows as active, as entitlements count it.
 */
export function rewardJson(row: RewardRow, now = Date.now()) {
  return {
    id: row.id,
    userId: row.userId,
    referralId: row.referralId,
    type: row.type,
    amount: row.amount,
    currency: row.currency,
    feature: row.feature,
    status: statusAt(row, now),
    rule: row.rule,
    trigger: row.trigger,
    triggerId: row.triggerId,
    validFrom: iso(row.validFrom) as string,
    validUntil: iso(row.validUntil),
    createdAt: iso(row.createdAt) as string,
    redeemedAt: iso(row.redeemedAt),
    availableAt: row.status === "pending" ? iso(row.availableAt) : null,
    choices: offersOf(row)?.map(offerJson) ?? null,
    chooseBy: row.choices !== null && row.choice === null ? iso(row.chooseBy) : null,
    choice: row.choice,
    bundleOf: row.bundleOf,
  };
}

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

const rewardOfferJson = (reward: OfferedReward) => ({
  type: reward.type,
  amount: reward.amount,
  currency: reward.currency,
  feature: reward.feature,
  validUntil: iso(reward.validUntil),
});

/** An option as the API shows it: described by its (first) reward, a bundle's rewards in `grants`. */
const offerJson = (offer: ChoiceOffer) => ({
  id: offer.id,
  label: offer.label ?? null,
  ...rewardOfferJson(offer),
  grants: offer.grants?.map(rewardOfferJson) ?? null,
});

/** The entry a choice made, and the further entries of its bundle (none for a single reward). */
export interface Chosen {
  reward: RewardRow;
  bundle: RewardRow[];
}

export function chosenJson(chosen: Chosen, now = Date.now()) {
  return { ...rewardJson(chosen.reward, now), bundle: chosen.bundle.map((row) => rewardJson(row, now)) };
}

/** Concurrent choices and Stripe events on one referee retry this many times. */
const MAX_ATTEMPTS = 8;

/**
 * Applies an option to an entry awaiting a choice (see chooseStatements); true
 * if this call took it. The batch also bumps the Stripe lock of the referral's
 * referee (`stripe_guards`, as an event on them does), so a refund planned
 * before the choice and written after it fails its lock and is planned again
 * from the chosen entry and its bundle, never leaving a part of it behind.
 */
async function applyChoice(
  db: Db,
  entry: { id: string; referralId: string | null },
  offer: ChoiceOffer,
  now: number,
): Promise<boolean> {
  const referral = entry.referralId
    ? await db
        .select({ refereeId: referrals.refereeId })
        .from(referrals)
        .where(eq(referrals.id, entry.referralId))
        .get()
    : undefined;
  const subjects = referral ? [`user:${referral.refereeId}`] : [];
  for (let attempt = 1; ; attempt++) {
    const versions = await guardVersions(db, subjects);
    try {
      const [taken] = await runBatch(db, [
        ...chooseStatements(db, entry.id, offer, now),
        ...guardStatements(db, versions, `choose:${entry.id}`),
      ]);
      return (taken?.meta.changes ?? 0) > 0;
    } catch (error) {
      const current = await guardVersions(db, subjects);
      if (![...versions].some(([subject, version]) => current.get(subject) !== version)) throw error;
      if (attempt >= MAX_ATTEMPTS) {
        throw new ApiError(503, "busy", "Too many concurrent changes to this reward's referral; try again");
      }
    }
  }
}

/**
 * Takes the referrer's choice for an entry offering one: exactly once, even
 * under concurrent calls (see chooseStatements). Choosing the option already
 * taken returns the entry; another one is a conflict. With `userId` (a widget
 * token) the entry must be that user's.
 */
export async function choose(db: Db, id: string, choice: string, now: number, userId?: string): Promise<Chosen> {
  const reward = await findReward(db, id);
  if (!reward || (userId !== undefined && reward.userId !== userId)) {
    throw new ApiError(404, "reward_not_found", `No reward ${id}`);
  }
  const offers = offersOf(reward);
  if (!offers) throw new ApiError(409, "no_choice", "This reward offers no choice");
  const offer = offers.find((o) => o.id === choice);
  if (!offer) {
    const ids = offers.map((o) => o.id).join(", ");
    throw new ApiError(400, "invalid_request", `choice: not one of this reward's options (${ids})`, "choice");
  }
  if (reward.choice === null && reward.status === "pending") await applyChoice(db, reward, offer, now);
  const current = (await findReward(db, id)) ?? reward;
  if (current.choice === choice) {
    const bundle = (await bundleEntries(db, [id])).filter((row) => row.bundleOf === id);
    return { reward: current, bundle };
  }
  if (current.choice !== null) {
    throw new ApiError(409, "already_chosen", `The reward was already chosen: ${current.choice}`);
  }
  throw new ApiError(409, "invalid_transition", `The reward is ${current.status}: it can no longer be chosen`);
}

const CHOICE_CHUNK = 100;

/** Takes the first option for every entry whose time to choose has run out; returns how many. Idempotent. */
export async function chooseDefaults(db: Db, now: number): Promise<number> {
  let total = 0;
  for (;;) {
    const due = await choicesDue(db, now, CHOICE_CHUNK);
    let taken = 0;
    for (const row of due) {
      const first = offersOf(row)?.[0];
      if (!first) continue;
      // One entry busy with Stripe events waits for the next run; the others go ahead.
      const took = await applyChoice(db, row, first, now).catch((error: unknown) => {
        console.warn(
          `taking the first option of reward ${row.id} failed; the next run retries: ${describeError(error)}`,
        );
        return false;
      });
      if (took) taken++;
    }
    total += taken;
    if (due.length < CHOICE_CHUNK || taken === 0) return total;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCursor(row: RewardRow): string {
  return toBase64Url(encoder.encode(`${row.createdAt}:${row.id}`));
}

export function decodeCursor(cursor: string): PageCursor {
  const bytes = fromBase64Url(cursor);
  const match = bytes && /^(\d{1,16}):([0-9a-f-]{36})$/.exec(decoder.decode(bytes));
  if (!match) throw new ApiError(400, "invalid_request", "cursor: not a cursor from a previous page", "cursor");
  return { createdAt: Number(match[1]), id: match[2] as string };
}

export async function rewardPage(db: Db, userId: string, limit: number, cursor?: string) {
  const rows = await listRewards(db, userId, limit + 1, cursor ? decodeCursor(cursor) : undefined);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    rewards: page.map((row) => rewardJson(row)),
    nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
  };
}

export async function entitlementsOf(
  deps: { db: Db; config: Config },
  userId: string,
  now: number,
): Promise<Entitlements> {
  return computeEntitlements(deps.config.rules, await activeEntries(deps.db, userId, now), now);
}

/** Redeems an active entry; redeeming it again is a no-op that returns it. */
export async function redeem(db: Db, id: string, now: number): Promise<RewardRow> {
  const redeemed = await redeemReward(db, id, now);
  if (redeemed) return redeemed;
  const current = await findReward(db, id);
  if (!current) throw new ApiError(404, "reward_not_found", `No reward ${id}`);
  if (current.status === "redeemed") return current;
  const status =
    current.status === "active" && current.validUntil !== null && current.validUntil <= now
      ? "expired"
      : current.status;
  throw new ApiError(409, "invalid_transition", `The reward is ${status}: only an active reward can be redeemed`);
}
