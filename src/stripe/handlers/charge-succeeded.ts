import type { EventFacts } from "../facts";
import { chargeFact, chargePayer, type ParsedCharge } from "./charge-refunded";

/**
 * A successful charge: the charge as a fact (its refunds and disputes then
 * find their user), and who paid it. It is the only event that carries the
 * card's fingerprint, which is how a referee paying with their referrer's
 * card is found (domain/self-referral.ts); the payment itself counts through
 * `invoice.paid` or `checkout.session.completed`, never twice.
 */
export function chargeSucceeded(charge: ParsedCharge, createdAt: number): EventFacts {
  const fact = chargeFact(charge, createdAt);
  return { customerId: fact.customerId, charge: fact, payer: chargePayer(charge) };
}
