import { z } from "zod";
import { isCurrency } from "../../domain/currency";

/**
 * The pieces of Stripe objects the handlers read, as zod schemas. Stripe's
 * own nullability is kept (a field documented as nullable parses when null),
 * and anything the service computes with is checked: ids are bounded text,
 * amounts are non-negative integers in minor units, currencies ISO 4217.
 */

/** A Stripe object id (`in_…`, `cus_…`): printable, bounded text. */
export const stripeId = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, "not a Stripe id");

/** An expandable field (the id, or the object with its id) read as the id. */
export const expandable = z
  .union([stripeId, z.looseObject({ id: stripeId })])
  .transform((value) => (typeof value === "string" ? value : value.id));

/** An expandable field Stripe documents as nullable (or leaves out): the id, or null. */
export const optionalExpandable = expandable.nullish().transform((value) => value ?? null);

/** An amount in the currency's smallest unit (cents; yen for zero-decimal `jpy`). */
export const amount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** A three-letter ISO 4217 code, lower-case as Stripe sends it. */
export const currency = z.string().refine(isCurrency, "not an ISO 4217 currency code in lower case");

/** Seconds since the epoch, as Stripe sends times. */
export const timestamp = z.number().int().positive().max(1e11);

/** A host user id carried through Checkout: the same bounds as the API's user ids. */
export const hostUserId = z
  .string()
  .min(1)
  .max(128)
  .refine((value) => value.isWellFormed() && !/[\p{Cc}]/u.test(value), "not a valid user id");

/** Stripe timestamps are seconds; the service keeps milliseconds. */
export const ms = (seconds: number) => seconds * 1000;
