import { getConfig } from "./config";
import { createDb } from "./db/client";
import { purgeExpiredData } from "./db/queries/housekeeping";
import { activateHeldRewards, expireRewards } from "./db/queries/rewards";
import { outboxStub } from "./durable-objects/event-outbox";
import { replayClickBacklog } from "./services/click-backlog";
import { fulfilCredits } from "./services/fulfilment";
import { refreshQualifiedMilestones } from "./services/qualified-milestones";
import { chooseDefaults } from "./services/rewards";
import { stripeClient } from "./stripe/client";

/** The cron job: housekeeping that no request waits for. Every step is idempotent. */
export async function runScheduled(env: Env, now: number) {
  const config = getConfig(env);
  const db = createDb(env.DB);
  // A referrer who did not choose in time gets the first option.
  const defaultedChoices = await chooseDefaults(db, now);
  // Before expiry and fulfilment: a reward whose hold ended is active, and its credit can be applied.
  const activatedRewards = await activateHeldRewards(db, now);
  // Conversions whose hold just ended now count towards milestones on qualified referrals.
  const qualifiedMilestones = await refreshQualifiedMilestones({ db, config }, now);
  const expiredRewards = await expireRewards(db, now);
  // Credit that could not be applied in Stripe after its webhook is retried here.
  const credits = await fulfilCredits({ db, config, stripe: stripeClient(config) }, now);
  // Clicks made while their counter was unreachable are counted now.
  const clickBacklog = await replayClickBacklog(db, env.CODE_COUNTER);
  const purged = await purgeExpiredData(db, now, config.clickRetentionDays);
  // A safety net for deliveries whose wake-up was lost.
  await outboxStub(env.EVENT_OUTBOX).poke();
  console.log(
    `scheduled: chose the first option for ${defaultedChoices} rewards; activated ${activatedRewards} held rewards; ` +
      `qualified milestones changed ${qualifiedMilestones}; expired ${expiredRewards} rewards; Stripe credits applied ${credits.applied}, failed ${credits.failed}; ` +
      `backlogged clicks counted ${clickBacklog.replayed}, still waiting ${clickBacklog.waiting}; ` +
      `purged ${purged.clicks} clicks, ${purged.userVisitors} visitor hashes`,
  );
  return { defaultedChoices, activatedRewards, qualifiedMilestones, expiredRewards, credits, clickBacklog, purged };
}
