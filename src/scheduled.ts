import { createDb } from "./db/client";
import { expireRewards } from "./db/queries/rewards";

/** The cron job: housekeeping that no request waits for. Every step is idempotent. */
export async function runScheduled(env: Env, now: number): Promise<{ expiredRewards: number }> {
  const db = createDb(env.DB);
  const expiredRewards = await expireRewards(db, now);
  if (expiredRewards > 0) console.log(`expired ${expiredRewards} rewards`);
  return { expiredRewards };
}
