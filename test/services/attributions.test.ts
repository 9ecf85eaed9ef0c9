import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { createDb } from "../../src/db/client";
import { attribute } from "../../src/services/attributions";
import { testBindings } from "../bindings";
import { countRows, createCode } from "../helpers";

/** The service with a cap of 2 rewarded referrals a month and a 2x contest in March. */
const config = parseConfig({
  ...testBindings,
  REWARD_RULES: JSON.stringify({
    caps: { rewardedReferralsPerMonth: 2 },
    multipliers: [
      {
        id: "march-contest",
        from: "2026-03-01T00:00:00Z",
        until: "2026-04-01T00:00:00Z",
        factor: 2,
        triggers: ["signup"],
      },
    ],
  }),
});
const deps = () => ({ db: createDb(env.DB), config });

async function referrerRewardCount(userId: string) {
  return countRows("SELECT count(*) AS n FROM rewards WHERE user_id = ? AND \"trigger\" = 'signup'", userId);
}

describe("monthly caps", () => {
  it("records referrals beyond the cap but rewards only the referee", async () => {
    const code = await createCode("capped", "cap");
    const feb = Date.UTC(2026, 1, 10);
    for (let i = 1; i <= 3; i++) {
      const result = await attribute(deps(), { refereeId: `capped-ref-${i}`, code }, feb + i);
      expect(result.created).toBe(true);
      expect(result.referral.referrerRewarded).toBe(i <= 2);
      expect(result.rewards.filter((r) => r.userId === `capped-ref-${i}`)).toHaveLength(3);
    }
    expect(await referrerRewardCount("capped")).toBe(4);
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referrer_id = 'capped'")).toBe(3);
    expect(await countRows("SELECT signups AS n FROM referral_codes WHERE code = ?", code)).toBe(3);
  });

  it("starts counting again on the first instant of the next UTC month", async () => {
    const code = await createCode("boundary", "bnd");
    const firstOfMarch = Date.UTC(2026, 2, 1);
    await attribute(deps(), { refereeId: "boundary-1", code }, firstOfMarch - 2);
    await attribute(deps(), { refereeId: "boundary-2", code }, firstOfMarch - 1);
    const lastFeb = await attribute(deps(), { refereeId: "boundary-3", code }, firstOfMarch - 1);
    const firstMarch = await attribute(deps(), { refereeId: "boundary-4", code }, firstOfMarch);

    expect(lastFeb.referral.referrerRewarded).toBe(false);
    expect(firstMarch.referral.referrerRewarded).toBe(true);
    // The March contest doubles the referrer's amounts, from its first instant.
    expect(firstMarch.rewards.find((r) => r.rule === "referrer-signup-messages")?.amount).toBe(20);
  });

  it("holds exactly under concurrent signups", async () => {
    const code = await createCode("racing", "race");
    const at = Date.UTC(2026, 5, 15);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => attribute(deps(), { refereeId: `racing-ref-${i}`, code }, at + i)),
    );
    expect(results.filter((r) => r.referral.referrerRewarded)).toHaveLength(2);
    expect(await referrerRewardCount("racing")).toBe(4);
  });
});
