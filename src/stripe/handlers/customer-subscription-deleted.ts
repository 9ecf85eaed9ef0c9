import type Stripe from "stripe";
import { idOf, ms } from "./fields";
import type { EventFacts } from "./index";

/** The referee's subscription ended: recorded on the referral; rewards stay as they are. */
export function customerSubscriptionDeleted(event: Stripe.CustomerSubscriptionDeletedEvent): EventFacts {
  const subscription = event.data.object;
  return {
    customerId: idOf(subscription.customer),
    canceledAt: ms(subscription.ended_at ?? subscription.canceled_at ?? event.created),
  };
}
