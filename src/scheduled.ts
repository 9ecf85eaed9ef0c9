import { getConfig } from "./config";
import { createDb } from "./db/client";
import { purgeExpiredData } from "./db/queries/housekeeping";
import { activateHeldRewards, expireRewards } from "./db/queries/rewards";
import { outboxStub } from "./durable-objects/event-outbox";
import { describeError } from "./log";
import { replayClickBacklog } from "./services/click-backlog";
import { purgeClickLog } from "./services/click-log";
import { migrateLegacyClicks } from "./services/click-log-migration";
import { fulfilCredits } from "./services/fulfilment";
import { retryPromotionCodes } from "./services/promotion-codes";
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
  // Promotion codes Stripe did not create when their referral code was made.
  const promotionCodes = await retryPromotionCodes({ db, config, stripe: stripeClient(config) }, now);
  // Clicks made while their counter was unreachable are counted now.
  const clickBacklog = await replayClickBacklog(db, env.CODE_COUNTER);
  // Click rows from before the R2 log move there, before the hot window's purge.
  // An R2 outage costs these two steps a run, not the steps after them.
  const legacyClicks = await migrateLegacyClicks(db, env.CLICK_LOG, now, config.clickRetentionDays).catch(
    (error: unknown) => {
      console.warn(`moving click rows to the R2 log failed; the next run carries on: ${describeError(error)}`);
      return { moved: 0, expired: 0, done: false };
    },
  );
  const purged = await purgeExpiredData(db, now, config.clickLogHotDays);
  const clickLog = await purgeClickLog(env.CLICK_LOG, now, config.clickRetentionDays).catch((error: unknown) => {
    console.warn(`click log retention failed; the next run carries on: ${describeError(error)}`);
    return { days: 0, objects: 0 };
  });
  // A safety net for deliveries whose wake-up was lost.
  await outboxStub(env.EVENT_OUTBOX).poke();
  console.log(
    `scheduled: chose the first option for ${defaultedChoices} rewards; activated ${activatedRewards} held rewards; ` +
      `qualified milestones changed ${qualifiedMilestones}; expired ${expiredRewards} rewards; Stripe credits applied ${credits.applied}, failed ${credits.failed}; ` +
      `backlogged clicks counted ${clickBacklog.replayed}, still waiting ${clickBacklog.waiting}; ` +
      `purged ${purged.clicks} clicks, ${purged.userVisitors} visitor hashes; ` +
      `click log: ${clickLog.objects} objects (${clickLog.days} days) past retention deleted, ` +
      `${legacyClicks.moved} rows moved from D1${legacyClicks.done ? "" : " (more to move)"}`,
  );
  if (promotionCodes.created + promotionCodes.failed > 0) {
    console.log(`scheduled: promotion codes created ${promotionCodes.created}, failed ${promotionCodes.failed}`);
  }
  return {
    defaultedChoices,
    activatedRewards,
    qualifiedMilestones,
    expiredRewards,
    credits,
    promotionCodes,
    clickBacklog,
    purged,
    clickLog,
    legacyClicks,
  };
}
