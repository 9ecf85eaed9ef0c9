import { eq, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { clicks, clicksLegacy, referralClicks } from "../db/schema";
import type { AttributionClaims } from "../domain/attribution-token";
import { shardFor } from "../domain/visitor";
import { type CodeCounter, counterStub } from "../durable-objects/code-counter";
import { describeError } from "../log";

/** What a referral keeps of the click that brought its referee. */
export type ClickDetails = Omit<typeof referralClicks.$inferInsert, "referralId">;

const columns = {
  clickedAt: sql<number>`clicked_at`,
  country: sql<string | null>`country`,
  referrerHost: sql<string | null>`referrer_host`,
  agentFamily: sql<string | null>`agent_family`,
};

/** The click's row in D1's hot window, or among the rows not yet moved to R2. */
async function inD1(db: Db, clickId: string): Promise<ClickDetails | undefined> {
  const hot = db.select(columns).from(clicks).where(eq(clicks.id, clickId));
  const legacy = db.select(columns).from(clicksLegacy).where(eq(clicksLegacy.id, clickId));
  const [row] = await hot.unionAll(legacy).limit(1);
  return row;
}

/**
 * The details of the click an attribution token names, to copy onto the
 * referral. A click is in D1's hot window once its flush landed, and in its
 * counter's buffer until then; D1 is asked again after the counter, since the
 * flush may land in between. Past the hot window only the token's time is
 * known. The counter being unreachable costs the details, never the attribution.
 */
export async function clickDetails(
  db: Db,
  counters: DurableObjectNamespace<CodeCounter> | undefined,
  claims: AttributionClaims,
  shards: number,
): Promise<ClickDetails> {
  let found = await inD1(db, claims.clickId);
  if (!found && counters) {
    try {
      found =
        (await counterStub(counters, claims.code, shardFor(claims.visitorHash, shards)).clickDetails(claims.clickId)) ??
        undefined;
    } catch (error) {
      console.warn(`click ${claims.clickId}: its counter did not answer for its details: ${describeError(error)}`);
    }
    found ??= await inD1(db, claims.clickId);
  }
  return found ?? { clickedAt: claims.issuedAt, country: null, referrerHost: null, agentFamily: null };
}

/** Stores a referral's click details; part of the attribution's batch. */
export function referralClickStatement(db: Db, referralId: string, details: ClickDetails) {
  return db.insert(referralClicks).values({ referralId, ...details });
}
