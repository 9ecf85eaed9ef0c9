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
 * The carrier that wins: the best rank, and between two tokens the newer
 * click (the one the person followed last), the cookie on a tie.
 */
export function winningCarrier<C extends Carrier>(carriers: readonly C[]): C | null {
  let best: C | null = null;
  for (const carrier of carriers) {
    if (!best) {
      best = carrier;
      continue;
    }
    const byRank = RANK[carrier.source] - RANK[best.source];
    if (byRank < 0) best = carrier;
    else if (byRank === 0) {
      const newer = (carrier.click?.issuedAt ?? 0) - (best.click?.issuedAt ?? 0);
      if (newer > 0 || (newer === 0 && carrier.source === "cookie")) best = carrier;
    }
  }
  return best;
}
