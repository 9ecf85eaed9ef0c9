import type { ChargeFact, DisputeFact, PaymentFact } from "../domain/conversion";

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

/** A signed event whose object does not have the shape the service reads. */
export interface Unprocessable {
  unprocessable: true;
  /** The first failing field, as a path into the event (`data.object.currency`). */
  field: string;
  reason: string;
}

export type ReadResult = EventFacts | Unprocessable | null;

export const isUnprocessable = (result: ReadResult): result is Unprocessable =>
  result !== null && "unprocessable" in result;
