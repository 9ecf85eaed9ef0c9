import { z } from "zod";
import { paymentIdentityKinds } from "../db/schema";
import type { EventFacts } from "./facts";
import { isUnprocessable } from "./facts";
import { eventFacts } from "./handlers";
import { amount, currency, hostUserId, stripeId } from "./handlers/fields";

/**
 * Deferred events keep only the facts the service read from them (no names,
 * emails or addresses; who paid only as keyed hashes). Rows written before
 * that kept the whole event: those are read through the event handlers, and
 * who paid is hashed as they are released. Either way a stored row is parsed
 * again when released, and one that no longer fits is dropped with a warning:
 * a stored event never fails a later one.
 */
const time = z.number().int().nonnegative();
const nullableId = stripeId.nullable();

const factsSchema = z.object({
  customerId: nullableId,
  userId: hostUserId.optional(),
  payment: z
    .object({ id: stripeId, customerId: nullableId, paymentIntent: nullableId, currency, amount, paidAt: time })
    .optional(),
  charge: z
    .object({
      id: stripeId,
      customerId: nullableId,
      paymentIntent: nullableId,
      currency,
      amount,
      amountRefunded: amount,
      fullyRefundedAt: time.nullable(),
      createdAt: time,
    })
    .optional(),
  dispute: z
    .object({
      id: stripeId,
      chargeId: stripeId,
      paymentIntent: nullableId,
      status: z.string().max(64),
      statusAt: time,
    })
    .optional(),
  canceledAt: time.optional(),
  trialEndsAt: time.optional(),
  identities: z
    .array(z.object({ kind: z.enum(paymentIdentityKinds), hash: z.string().regex(/^[0-9a-f]{64}$/), seenAt: time }))
    .max(10)
    .optional(),
});

export function deferredFacts(eventId: string, payload: string): EventFacts | null {
  let stored: unknown;
  try {
    stored = JSON.parse(payload);
  } catch {
    stored = undefined;
  }
  const legacy = z
    .looseObject({ object: z.literal("event"), type: z.string(), data: z.looseObject({ object: z.unknown() }) })
    .safeParse(stored);
  if (legacy.success) {
    const facts = eventFacts(legacy.data);
    if (facts && !isUnprocessable(facts)) return facts;
  } else {
    const facts = factsSchema.safeParse(stored);
    if (facts.success) return facts.data as EventFacts;
  }
  console.warn(`deferred Stripe event ${eventId} no longer fits what the service reads; dropped`);
  return null;
}
