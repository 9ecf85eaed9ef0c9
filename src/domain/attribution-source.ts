/**
 * The carriers that can attribute a referee to a referrer, and the one place
 * their order of precedence is decided. docs/attribution.md has the same table.
 *
 * | rank | source            | carried by                                                        |
 * |------|-------------------|-------------------------------------------------------------------|
 * | 1    | `cookie` / `url`  | a valid signed click token: the cookie, or the same click in the URL; the newer click wins |
 * | 2    | `promotion_code`  | the referrer's Stripe promotion code, used at checkout            |
 * | 3    | `code`            | the `ref` code from the signup URL, or typed in                   |
 * | 4    | `email_match`     | the customer's email, matched against the keyed hash of a referee |
 */

export const referralSources = ["cookie", "url", "promotion_code", "code", "email_match"] as const;
export type ReferralSource = (typeof referralSources)[number];

const RANK: Record<ReferralSource, number> = {
  cookie: 1,
  url: 1,
  promotion_code: 2,
  code: 3,
  email_match: 4,
};

/** One way a referee could be attributed; a token's carriers know their click. */
export interface Carrier {
  source: ReferralSource;
  code: string;
  click?: { clickId: string; issuedAt: number; visitorHash: string };
}

/**
 * A referee's carriers, best first: the best rank, and between two tokens the
 * newer click (the one the person followed last), the cookie on a tie. The
 * first whose code belongs to a live referrer attributes the referee, so a
 * token for a code that does not exist never hides a real one.
 */
export function rankedCarriers<C extends Carrier>(carriers: readonly C[]): C[] {
  return [...carriers].sort(
    (a, b) =>
      RANK[a.source] - RANK[b.source] ||
      (b.click?.issuedAt ?? 0) - (a.click?.issuedAt ?? 0) ||
      Number(b.source === "cookie") - Number(a.source === "cookie"),
  );
}

/** The carrier that wins when every carrier's code exists. */
export function winningCarrier<C extends Carrier>(carriers: readonly C[]): C | null {
  return rankedCarriers(carriers)[0] ?? null;
}
