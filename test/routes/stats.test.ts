import { describe, expect, it } from "vitest";
import { api, attribute, click, createCode, flush, type Json } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  invoicePaid,
  newChargeId,
  newCustomerId,
} from "../stripe/fixtures";

const today = () => new Date().toISOString().slice(0, 10);

// This file's storage is its own, so the program's totals are exactly what it creates.
describe("GET /api/stats over a whole story", () => {
  it("counts clicks, signups, conversions, rewards and revenue, with rates and top referrers", async () => {
    const code = await createCode("story-alice", "alic");
    await api(`/api/codes/${code}`, { method: "PATCH", body: { displayName: "Alice A." } });
    const first = await click(code, { ip: "198.18.9.1" });
    const urlToken = new URL(first.headers.get("location") ?? "").searchParams.get("ref_click");
    await click(code, { ip: "198.18.9.1" });
    await click(code, { method: "HEAD" });
    await flush(code);
    // Two signups, each rewarding both sides: 2 referrer entries and 3 referee entries.
    // Bob typed the code; Carol came with the first click's token in her signup URL.
    expect((await attribute({ refereeId: "story-bob", code })).status).toBe(201);
    expect((await attribute({ refereeId: "story-carol", token: urlToken })).status).toBe(201);
    // Bob pays twice (one conversion, +1 conversion credit); a part of the second payment is refunded.
    const customer = newCustomerId();
    // An hour ago, but never before today (UTC): the stats below ask about today only.
    const now = Date.now();
    const at = Math.max(now - 60 * 60_000, now - (now % 86_400_000));
    await deliver(checkoutCompleted({ userId: "story-bob", customer, at }));
    await deliver(invoicePaid({ customer, at: at + 60_000, amount: 2900 }));
    await deliver(invoicePaid({ customer, at: at + 120_000, amount: 2900 }));
    await deliver(
      chargeRefunded({
        customer,
        chargeId: newChargeId(),
        chargedAt: at + 120_000,
        at: at + 180_000,
        amountRefunded: 900,
      }),
    );
    // Alice redeems one of her rewards.
    const ledger = (await (await api("/api/users/story-alice/rewards?limit=50")).json()) as { rewards: Json[] };
    const redeemable = ledger.rewards.find((reward) => reward.type === "extra_messages");
    expect((await api(`/api/rewards/${redeemable?.id}/redeem`, { method: "POST" })).status).toBe(200);

    const res = await api(`/api/stats?from=${today()}&to=${today()}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      from: today(),
      to: today(),
      clicks: 2,
      uniqueClicks: 1,
      botClicks: 1,
      signups: 2,
      conversions: 1,
      conversionRate: 0.5,
      rewards: { granted: 11, redeemed: 1, expired: 0, revoked: 0, redemptionRate: 0.0909 },
      revenue: [{ currency: "usd", gross: 5800, refunded: 900, net: 4900 }],
      topReferrers: [{ code, userId: "story-alice", displayName: "Alice A.", signups: 2, conversions: 1 }],
      bySource: {
        cookie: { signups: 0, conversions: 0 },
        url: { signups: 1, conversions: 0 },
        promotion_code: { signups: 0, conversions: 0 },
        code: { signups: 1, conversions: 1 },
        email_match: { signups: 0, conversions: 0 },
      },
    });

    // The day before holds none of it.
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const before = (await (await api(`/api/stats?from=${yesterday}&to=${yesterday}`)).json()) as Json;
    expect(before.bySource).toMatchObject({ url: { signups: 0 }, code: { signups: 0, conversions: 0 } });
  });
});
