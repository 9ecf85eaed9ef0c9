import type { z } from "zod";
import type { EventFacts, ReadResult } from "../facts";
import { chargeDispute, disputeSchema } from "./charge-dispute";
import { chargeRefunded, chargeSchema } from "./charge-refunded";
import { chargeSucceeded } from "./charge-succeeded";
import { checkoutSessionCompleted, checkoutSessionSchema } from "./checkout-session-completed";
import { createdSubscriptionSchema, customerSubscriptionCreated } from "./customer-subscription-created";
import { customerSubscriptionDeleted, subscriptionSchema } from "./customer-subscription-deleted";
import { timestamp } from "./fields";
import { invoicePaid, invoiceSchema } from "./invoice-paid";
import { promotionCodeSchema, promotionCodeUpdated } from "./promotion-code-updated";

/** One handled event type: the schema of the object it reads, and the facts it reads from it. */
interface Handler<S extends z.ZodType> {
  schema: S;
  facts: (object: z.infer<S>, createdAt: number) => EventFacts;
}
const handler = <S extends z.ZodType>(schema: S, facts: (object: z.infer<S>, createdAt: number) => EventFacts) =>
  ({ schema, facts }) as Handler<z.ZodType>;

/** The events the service acts on; every other type is acknowledged and ignored. */
const HANDLERS: Record<string, Handler<z.ZodType>> = {
  "checkout.session.completed": handler(checkoutSessionSchema, checkoutSessionCompleted),
  "invoice.paid": handler(invoiceSchema, invoicePaid),
  "charge.succeeded": handler(chargeSchema, chargeSucceeded),
  "charge.refunded": handler(chargeSchema, chargeRefunded),
  "charge.dispute.created": handler(disputeSchema, chargeDispute),
  "charge.dispute.closed": handler(disputeSchema, chargeDispute),
  "customer.subscription.deleted": handler(subscriptionSchema, customerSubscriptionDeleted),
  "customer.subscription.created": handler(createdSubscriptionSchema, customerSubscriptionCreated),
  "promotion_code.updated": handler(promotionCodeSchema, promotionCodeUpdated),
};

export const RELEVANT_EVENTS = new Set(Object.keys(HANDLERS));

/** The envelope every event has; the route has checked `id`, `type` and `data.object` already. */
interface EventEnvelope {
  type: string;
  created?: unknown;
  data: { object: unknown };
}

/**
 * Reads the facts out of a relevant event, parsing only what the service uses;
 * null for an event type it does not handle, and `unprocessable` (with the
 * first failing field) for a handled event whose object does not fit.
 */
export function eventFacts(event: EventEnvelope): ReadResult {
  const read = HANDLERS[event.type];
  if (!read) return null;
  const created = timestamp.safeParse(event.created);
  if (!created.success) return unprocessable("created", created.error);
  const object = read.schema.safeParse(event.data.object);
  if (!object.success) return unprocessable("data.object", object.error);
  return read.facts(object.data, created.data);
}

function unprocessable(prefix: string, error: z.ZodError) {
  const issue = error.issues[0];
  const field = [prefix, ...(issue?.path ?? []).map(String)].join(".");
  return { unprocessable: true as const, field, reason: `${field}: ${issue?.message ?? "invalid"}` };
}
