import { z } from "zod";
import type { EventFacts } from "../facts";
import { expandable, ms, stripeId, timestamp } from "./fields";

/** The part of a subscription the service reads. */
export const subscriptionSchema = z.looseObject({
  id: stripeId,
  customer: expandable,
  ended_at: timestamp.nullish(),
  canceled_at: timestamp.nullish(),
});

/** The referee's subscription ended: recorded on the referral; rewards stay as they are. */
export function customerSubscriptionDeleted(
  subscription: z.infer<typeof subscriptionSchema>,
  createdAt: number,
): EventFacts {
  return {
    customerId: subscription.customer,
    canceledAt: ms(subscription.ended_at ?? subscription.canceled_at ?? createdAt),
  };
}
