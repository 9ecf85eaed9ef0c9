import { getConfig } from "./config";
import { createDb } from "./db/client";
import { expireRewards } from "./db/queries/rewards";
import { fulfilCredits } from "./services/fulfilment";
import { stripeClient } from "./stripe/client";

/** The cron job: housekeeping that no request waits for. Every step is idempotent. */
export async function runScheduled(env: Env, now: number) {
  const config = getConfig(env);
  const db = createDb(env.DB);
  const expiredRewards = await expireRewards(db, now);
  // Credit that could not be applied in Stripe after its webhook is retried here.
  const credits = await fulfilCredits({ db, config, stripe: stripeClient(config) }, now);
  if (expiredRewards > 0 || credits.applied > 0 || credits.failed > 0) {
    console.log(
      `scheduled: expired ${expiredRewards} rewards; Stripe credits applied ${credits.applied}, failed ${credits.failed}`,
    );
  }
  return { expiredRewards, credits };
}
