import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { API_KEY, call, createCode } from "../helpers";
import { checkoutCompleted, deliver, invoicePaid, newCustomerId } from "../stripe/fixtures";

/** A cap of one rewarded referral a month, counted on conversions. */
const RULES = {
  qualifiedBy: "conversion",
  caps: { rewardedReferralsPerMonth: 1 },
  signup: {
    referrer: [{ id: "cap-signup", type: "extra_messages", amount: 10, validFor: null }],
    referee: [],
  },
  conversion: {
    referrer: [{ id: "cap-credit", type: "account_credit", amount: 1000, currency: "usd", validFor: null }],
    referee: [{ id: "cap-welcome", type: "account_credit", amount: 500, currency: "usd", validFor: null }],
  },
  milestones: [],
};
const bindings = { ...env, REWARD_RULES: JSON.stringify(RULES) } as Env;

async function send(event: Parameters<typeof deliver>[0], ruleBindings = bindings) {
  const res = await deliver(event, { bindings: ruleBindings });
  expect(res.status).toBe(200);
}

/** A referee who signs up with `code` and checks out with their own Stripe customer. */
async function referee(code: string, name: string, ruleBindings = bindings) {
  const res = await call(
    "/api/attributions",
    {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ refereeId: name, code }),
    },
    ruleBindings,
  );
  expect(res.status).toBe(201);
  const customer = newCustomerId();
  await send(checkoutCompleted({ userId: name, customer, at: Date.UTC(2026, 9, 1) }), ruleBindings);
  return { pay: (at: number) => send(invoicePaid({ customer, at, id: `in_${name}` }), ruleBindings) };
}

async function rules(userId: string) {
  const { results } = await env.DB.prepare(
    "SELECT rule, trigger_id AS triggerId FROM rewards WHERE user_id = ? ORDER BY rule, trigger_id",
  )
    .bind(userId)
    .all<{ rule: string; triggerId: string }>();
  return results.map((r) => `${r.rule}:${r.triggerId}`);
}

describe("the monthly cap with qualifiedBy conversion", () => {
  it("caps the referrer's conversion rewards, not their signup rewards", async () => {
    const referrerId = "cap-referrer";
    const code = await createCode(referrerId, "capconv");
    const ann = await referee(code, "cap-ann");
    const ben = await referee(code, "cap-ben");
    const cat = await referee(code, "cap-cat");

    // Ben converts later in November than Ann, but his invoice is delivered first: the first batch takes the cap.
    await ben.pay(Date.UTC(2026, 10, 20));
    await ann.pay(Date.UTC(2026, 10, 5));
    // Cat converts in December: a new month, room again.
    await cat.pay(Date.UTC(2026, 11, 2));
    // A replay of Ann's invoice changes nothing.
    await ann.pay(Date.UTC(2026, 10, 5));

    const signups = (await rules(referrerId)).filter((r) => r.startsWith("cap-signup"));
    expect(signups).toHaveLength(3);
    expect((await rules(referrerId)).filter((r) => r.startsWith("cap-credit"))).toEqual([
      "cap-credit:in_cap-ben",
      "cap-credit:in_cap-cat",
    ]);
    expect(await rules("cap-ann")).toEqual(["cap-welcome:in_cap-ann"]);
    expect(await rules("cap-ben")).toEqual(["cap-welcome:in_cap-ben"]);
  });

  it("by default still caps signup rewards and leaves conversion rewards uncapped", async () => {
    const signupRules = { ...RULES, qualifiedBy: "signup" };
    const signupBindings = { ...env, REWARD_RULES: JSON.stringify(signupRules) } as Env;
    const referrerId = "cap-default-referrer";
    const code = await createCode(referrerId, "capdefault");
    const dan = await referee(code, "cap-dan", signupBindings);
    const eve = await referee(code, "cap-eve", signupBindings);
    await dan.pay(Date.UTC(2026, 10, 5));
    await eve.pay(Date.UTC(2026, 10, 6));

    expect(await rules(referrerId)).toEqual([
      "cap-credit:in_cap-dan",
      "cap-credit:in_cap-eve",
      expect.stringMatching(/^cap-signup:/),
    ]);
  });
});
