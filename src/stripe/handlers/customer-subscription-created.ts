import { z } from "zod";
import type { EventFacts } from "../facts";
import { expandable, hostUserId, ms, stripeId, timestamp } from "./fields";

/** The part of a new subscription the service reads. */
export const createdSubscriptionSchema = z.looseObject({
  id: stripeId,
  customer: expandable,
  status: z.string().min(1).max(64),
  trial_end: timestamp.nullish(),
  metadata: z.looseObject({ userId: hostUserId.optional() }).nullish(),
});

/**
 * A new subscription: `metadata.userId` maps its customer (a subscription
 * created through the API rather than Checkout), and a trialing one records
 * when its trial ends. Its invoices pay 0 until then and never convert; the
 * first paid invoice does.
 */
export function customerSubscriptionCreated(
  subscription: z.infer<typeof createdSubscriptionSchema>,
  _createdAt: number,
): EventFacts {
  const userId = subscription.metadata?.userId;
  return {
    customerId: subscription.customer,
    ...(userId ? { userId } : {}),
    ...(subscription.status === "trialing" && subscription.trial_end
      ? { trialEndsAt: ms(subscription.trial_end) }
      : {}),
  };
}
