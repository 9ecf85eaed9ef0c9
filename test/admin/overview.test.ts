import { describe, expect, it } from "vitest";
import { formatMoney, formatNumber, formatRate } from "../../src/admin/layout";
import { api, attribute, click, createCode, flush, type Json } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  invoicePaid,
  newChargeId,
  newCustomerId,
} from "../stripe/fixtures";
import { login, page } from "./console";

const today = () => new Date().toISOString().slice(0, 10);

/** The text of every `data-stat` card on a page. */
function cards(html: string): Record<string, string> {
  return Object.fromEntries([...html.matchAll(/data-stat="(\w+)">([^<]*)</g)].map((m) => [m[1], m[2]]));
}

// This file's storage is its own, so the program's totals are exactly what it creates.
describe("the console overview", () => {
  it("shows an empty program with what to do next", async () => {
    const res = await page(await login(), "/admin");
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(cards(html).clicks).toBe("0");
    expect(html).toContain("No referrers yet");
    expect(html).toContain("No referrals yet");
  });

  it("shows the same numbers as GET /api/stats for the same range, and a daily chart with its table", async () => {
    const code = await createCode("ov-alice", "ovali");
    await api(`/api/codes/${code}`, { method: "PATCH", body: { displayName: "Alice O." } });
    await click(code, { ip: "198.18.7.1" });
    await click(code, { ip: "198.18.7.2" });
    await click(code, { method: "HEAD" });
    await flush(code);
    expect((await attribute({ refereeId: "ov-bob", code })).status).toBe(201);
    expect((await attribute({ refereeId: "ov-carol", code })).status).toBe(201);
    const customer = newCustomerId();
    // A few seconds back, so the whole story lies inside today (see test/setup.ts).
    const at = Date.now() - 6_000;
    await deliver(checkoutCompleted({ userId: "ov-bob", customer, at }));
    await deliver(invoicePaid({ customer, at: at + 2_000, amount: 123_456 }));
    await deliver(
      chargeRefunded({
        customer,
        chargeId: newChargeId(),
        chargedAt: at + 2_000,
        at: at + 4_000,
        amountRefunded: 900,
      }),
    );

    const range = `from=${today()}&to=${today()}`;
    const stats = (await (await api(`/api/stats?${range}`)).json()) as Json & {
      rewards: Record<string, number>;
      revenue: { currency: string; gross: number; refunded: number; net: number }[];
    };
    const res = await page(await login(), `/admin?${range}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(cards(html)).toEqual({
      clicks: formatNumber(stats.clicks as number),
      uniqueClicks: formatNumber(stats.uniqueClicks as number),
      botClicks: formatNumber(stats.botClicks as number),
      signups: formatNumber(stats.signups as number),
      conversions: formatNumber(stats.conversions as number),
      conversionRate: formatRate(stats.conversionRate as number),
      granted: formatNumber(stats.rewards.granted as number),
      redeemed: formatNumber(stats.rewards.redeemed as number),
      expired: formatNumber(stats.rewards.expired as number),
      revoked: formatNumber(stats.rewards.revoked as number),
      redemptionRate: formatRate(stats.rewards.redemptionRate as number),
    });
    expect(stats.clicks).toBe(2);
    expect(cards(html).conversionRate).toBe("50%");
    const [usd] = stats.revenue;
    expect(usd).toEqual({ currency: "usd", gross: 123_456, refunded: 900, net: 122_556 });
    expect(html).toContain(formatMoney(123_456, "usd"));
    expect(formatMoney(123_456, "usd")).toBe("$1,234.56");
    expect(html).toContain("$1,225.56");
    // One day in range: one bar, and the table behind the chart says the same.
    expect(html.match(/<rect /g)).toHaveLength(1);
    expect(html).toMatch(
      new RegExp(`<th scope="row">${today()}</th><td class="num">2</td><td class="num">2</td><td class="num">1</td>`),
    );
    expect(html).toContain("Alice O.");
    expect(html).toContain("/admin/referrals/");
  });

  it("defaults to the last 30 days and refuses a reversed range", async () => {
    const session = await login();
    const html = await (await page(session, "/admin")).text();
    expect(html.match(/<rect /g)).toHaveLength(30);
    const bad = await page(session, "/admin?from=2026-02-01&to=2026-01-01");
    expect(bad.status).toBe(400);
  });
});
