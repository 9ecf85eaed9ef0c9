import type Stripe from "stripe";
import type { ChargeFact, DisputeFact, PaymentFact } from "../../domain/conversion";
import { chargeDispute } from "./charge-dispute";
import { chargeRefunded } from "./charge-refunded";
import { checkoutSessionCompleted } from "./checkout-session-completed";
import { customerSubscriptionDeleted } from "./customer-subscription-deleted";
import { invoicePaid } from "./invoice-paid";

/** What one event tells us, before we know whose it is. */
export interface EventFacts {
  customerId: string | null;
  /** Only a checkout names the host user: it is how customers get mapped to users. */
  userId?: string;
  payment?: PaymentFact;
  charge?: ChargeFact;
  dispute?: DisputeFact;
  canceledAt?: number;
}

/** The events the service acts on; every other type is acknowledged and ignored. */
export const RELEVANT_EVENTS = new Set([
  "checkout.session.completed",
  "invoice.paid",
  "charge.refunded",
  "charge.dispute.created",
  "charge.dispute.closed",
  "customer.subscription.deleted",
]);

/** Reads the facts out of a relevant event; null for any other. */
export function eventFacts(event: Stripe.Event): EventFacts | null {
  switch (event.type) {
    case "checkout.session.completed":
      return checkoutSessionCompleted(event);
    case "invoice.paid":
      return invoicePaid(event);
    case "charge.refunded":
      return chargeRefunded(event);
    case "charge.dispute.created":
    case "charge.dispute.closed":
      return chargeDispute(event);
    case "customer.subscription.deleted":
      return customerSubscriptionDeleted(event);
    default:
      return null;
  }
}
