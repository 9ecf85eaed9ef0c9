import { sql } from "drizzle-orm";
import { type Db, runBatch } from "../db/client";
import {
  bundleEntries,
  clawbackStatement,
  findReward,
  moveBundleStatement,
  type RewardRow,
  setRewardStatusStatement,
  takeBackStatement,
} from "../db/queries/rewards";
import { type AdminAction, adminAudit, type RewardStatus, rewards } from "../db/schema";
import { takeBackBundle } from "../domain/bundles";
import { canTransition } from "../domain/ledger";
import type { RewardRules } from "../domain/rules";
import { ApiError } from "../errors";

/**
 * What an operator can do to the ledger. Each action goes through the
 * ledger's transitions (a spent reward is never edited: a debt entry claws it
 * back), and is written in one batch with its audit row, so an action without
 * its record (or the other way round) cannot exist. Outbound events follow
 * from the rewards table's triggers, as for every other path.
 */

/** Who revokes when an operator does: the Stripe path only ever reinstates its own revocations. */
export const REVOKED_BY_OPERATOR = "operator";

export interface Actor {
  actor: string;
  note: string;
}

const DAY_MS = 86_400_000;

/**
 * The audit row, inserted only if the statement before it in the batch
 * changed a row (SQLite's changes() counts that statement's own rows, not its
 * triggers'), so a lost race records nothing.
 */
function auditStatement(
  db: Db,
  who: Actor,
  action: AdminAction,
  reward: { id: string | null; userId: string },
  now: number,
) {
  return db.run(sql`
    INSERT INTO ${adminAudit} (id, actor, action, reward_id, user_id, note, created_at)
    SELECT ${crypto.randomUUID()}, ${who.actor}, ${action}, ${reward.id}, ${reward.userId}, ${who.note}, ${now}
    WHERE changes() > 0`);
}

async function rewardOrThrow(db: Db, id: string): Promise<RewardRow> {
  const reward = await findReward(db, id);
  if (!reward) throw new ApiError(404, "reward_not_found", `No reward ${id}`);
  return reward;
}

const conflict = (message: string) => new ApiError(409, "invalid_transition", message);

/** What revoking does to this entry: a status change, a clawback debt, or nothing allowed. */
export function revocationOf(reward: RewardRow): "revoke" | "clawback" | null {
  if (reward.amount < 0) return null;
  if (canTransition(reward.status, "revoked") && reward.fulfilledAt === null) return "revoke";
  if (reward.status === "redeemed" || reward.fulfilledAt !== null) return "clawback";
  return null;
}

/**
 * Revokes an entry. Not yet spent: it moves to `revoked`, by the operator
 * (final: Stripe facts never reinstate it). Spent (redeemed, or applied as
 * Stripe credit): it stays, and a debt entry of the same amount takes it back.
 */
export async function revokeReward(db: Db, id: string, who: Actor, now: number): Promise<RewardRow> {
  const reward = await rewardOrThrow(db, id);
  const how = revocationOf(reward);
  if (how === null) throw conflict(`The reward is ${reward.status}: there is nothing to revoke`);
  const change =
    how === "revoke"
      ? setRewardStatusStatement(db, reward.id, reward.status, "revoked", now, REVOKED_BY_OPERATOR)
      : clawbackStatement(db, reward, now);
  // A bundle chosen on this entry goes with it: its further rewards are revoked, or clawed back if spent.
  const bundle = takeBackBundle(await bundleEntries(db, [reward.id]));
  const [, audited] = await runBatch(db, [
    change,
    auditStatement(db, who, "reward.revoke", reward, now),
    ...bundle.map((action) => takeBackStatement(db, action, now, REVOKED_BY_OPERATOR)),
  ]);
  if (!audited?.meta.changes) {
    throw conflict(how === "clawback" ? "The reward was already clawed back" : "The reward changed meanwhile: reload");
  }
  return rewardOrThrow(db, id);
}

/** Puts an active entry on hold (`pending`), or releases a held one; the ledger's own transitions. */
export async function holdOrRelease(
  db: Db,
  id: string,
  action: "hold" | "release",
  who: Actor,
  now: number,
): Promise<RewardRow> {
  const reward = await rewardOrThrow(db, id);
  const [from, to]: [RewardStatus, RewardStatus] = action === "hold" ? ["active", "pending"] : ["pending", "active"];
  if (reward.amount < 0 || reward.status !== from || !canTransition(from, to)) {
    throw conflict(
      `The reward is ${reward.status}: only a${from === "active" ? "n active" : " pending"} reward can be ${action === "hold" ? "held" : "released"}`,
    );
  }
  if (action === "release" && reward.validUntil !== null && reward.validUntil <= now) {
    throw conflict("The reward's validity has ended: it expires instead of being released");
  }
  const [, audited] = await runBatch(db, [
    setRewardStatusStatement(db, reward.id, from, to, now),
    auditStatement(db, who, action === "hold" ? "reward.hold" : "reward.release", reward, now),
    // The further rewards of a bundle chosen on it are held and released with it.
    moveBundleStatement(db, reward.id, from, to, now),
  ]);
  if (!audited?.meta.changes) throw conflict("The reward changed meanwhile: reload");
  return rewardOrThrow(db, id);
}

export interface ManualGrant {
  userId: string;
  type: string;
  amount: number;
  validDays: number | null;
  currency: string | null;
  feature: string | null;
}

/** Checks a manual grant against the reward rules: a known type, with a currency for credit and a feature for an unlock. */
export function checkManualGrant(rules: RewardRules, grant: ManualGrant): ManualGrant {
  const kind = rules.rewardTypes[grant.type]?.kind;
  if (!kind)
    throw new ApiError(400, "invalid_request", `type: ${grant.type} is not a reward type of the rules`, "type");
  if (kind === "credit" && !grant.currency) {
    throw new ApiError(400, "invalid_request", "currency: credit needs a currency", "currency");
  }
  if (kind === "feature" && !grant.feature) {
    throw new ApiError(400, "invalid_request", "feature: an unlock needs the feature's name", "feature");
  }
  return {
    ...grant,
    amount: kind === "feature" ? 1 : grant.amount,
    currency: kind === "credit" ? grant.currency : null,
    feature: kind === "feature" ? grant.feature : null,
  };
}

/** Grants a reward by hand: a new active ledger entry, `rule` `operator`, once (its own dedupe key). */
export async function grantManualReward(db: Db, grant: ManualGrant, who: Actor, now: number): Promise<RewardRow> {
  const id = crypto.randomUUID();
  await runBatch(db, [
    db.insert(rewards).values({
      id,
      userId: grant.userId,
      referralId: null,
      type: grant.type,
      amount: grant.amount,
      currency: grant.currency,
      feature: grant.feature,
      status: "active",
      rule: "operator",
      trigger: "operator",
      triggerId: null,
      dedupeKey: `operator:${id}`,
      validFrom: now,
      validUntil: grant.validDays === null ? null : now + grant.validDays * DAY_MS,
      createdAt: now,
      updatedAt: now,
    }),
    auditStatement(db, who, "reward.grant", { id, userId: grant.userId }, now),
  ]);
  return rewardOrThrow(db, id);
}
