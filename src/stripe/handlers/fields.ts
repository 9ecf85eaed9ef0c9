/** An expandable Stripe field as its id. */
export function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === "string" ? value : value.id;
}

/** Stripe timestamps are seconds; the service keeps milliseconds. */
export const ms = (seconds: number) => seconds * 1000;
