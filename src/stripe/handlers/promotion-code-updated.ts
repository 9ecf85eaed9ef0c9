import { z } from "zod";
import type { EventFacts } from "../facts";
import { ms, stripeId } from "./fields";

/** The part of a promotion code the service reads. */
export const promotionCodeSchema = z.looseObject({
  id: stripeId,
  active: z.boolean(),
});

/**
 * A promotion code was switched on or off in Stripe: the referral code it
 * belongs to shows it (`GET /api/codes/:code`). Names no customer.
 */
export function promotionCodeUpdated(
  promotionCode: z.infer<typeof promotionCodeSchema>,
  createdAt: number,
): EventFacts {
  return { customerId: null, promotionCode: { id: promotionCode.id, active: promotionCode.active, at: ms(createdAt) } };
}
