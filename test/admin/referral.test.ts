import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { attribute, clickForToken, createCode, flush, type Json } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  invoicePaid,
  newChargeId,
  newCustomerId,
} from "../stripe/fixtures";
import { login, page } from "./console";

describe("a referral's story in the console", () => {
  it("tells the click, the attribution, the Stripe facts and the ledger entries in time order", async () => {
    const code = await createCode("story-gina", "gina");
    const token = await clickForToken(code, {
      ip: "198.18.3.1",
      headers: { referer: "https://news.example.org/post" },
    });
    await flush(code);
    const { status, body } = await attribute({ refereeId: "story-hank", token });
    expect(status).toBe(201);
    const referralId = (body.referral as Json).id as string;
    const customer = newCustomerId();
    const chargeId = newChargeId();
    const base = Date.now() + 1_000;
    await deliver(checkoutCompleted({ userId: "story-hank", customer, at: base }));
    await deliver(invoicePaid({ customer, at: base + 60_000 }));
    await deliver(
      chargeRefunded({ customer, chargeId, chargedAt: base + 61_000, at: base + 120_000, amountRefunded: 2900 }),
    );

    const res = await page(await login(), `/admin/referrals/${referralId}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    const kinds = [...html.matchAll(/<li data-kind="(\w+)">/g)].map((m) => m[1]);
    expect(kinds[0]).toBe("click");
    expect(kinds).toEqual(expect.arrayContaining(["signup", "payment", "conversion", "charge", "refund", "clawback"]));
    expect(kinds.filter((kind) => kind === "ledger").length).toBeGreaterThanOrEqual(2);
    const times = [...html.matchAll(/<li data-kind="\w+"><time datetime="([^"]+)"/g)].map((m) =>
      Date.parse(m[1] ?? ""),
    );
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(html).toContain("news.example.org");
    expect(html).toContain("the converting payment");
    expect(html).toContain("revoked by stripe");
    const { results } = await env.DB.prepare("SELECT id FROM rewards WHERE referral_id = ?")
      .bind(referralId)
      .all<{ id: string }>();
    for (const { id } of results) expect(html).toContain(`data-reward="${id}"`);
  });

  it("answers 404 with a page for a referral that does not exist", async () => {
    const session = await login();
    expect((await page(session, "/admin/referrals/no-such-referral")).status).toBe(404);
  });
});
