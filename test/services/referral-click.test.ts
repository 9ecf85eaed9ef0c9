import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { login, page } from "../admin/console";
import { api, attribute, clickForToken, createCode, flush, type Json } from "../helpers";

async function storedClick(referralId: string) {
  return env.DB.prepare(
    `SELECT clicked_at AS clickedAt, country, referrer_host AS referrerHost, agent_family AS agentFamily
     FROM referral_clicks WHERE referral_id = ?`,
  )
    .bind(referralId)
    .first();
}

describe("a referral keeps the details of the click that brought its referee", () => {
  it("copies them from the counter while the click is not flushed yet", async () => {
    const code = await createCode("rc-buffered", "rcb");
    const before = Date.now();
    const token = await clickForToken(code, {
      ip: "198.18.9.1",
      headers: { referer: "https://forum.example.net/t/1" },
    });

    const { status, body } = await attribute({ refereeId: "rc-buffered-referee", token });

    expect(status).toBe(201);
    const click = await storedClick((body.referral as Json).id as string);
    expect(click).toEqual({
      clickedAt: expect.any(Number),
      country: null,
      referrerHost: "forum.example.net",
      agentFamily: "chrome",
    });
    expect(click?.clickedAt).toBeGreaterThanOrEqual(before);
  });

  it("copies them from D1's hot window once the click is flushed, and the story keeps them after the window", async () => {
    const code = await createCode("rc-flushed", "rcf");
    const token = await clickForToken(code, { ip: "198.18.9.2", headers: { referer: "https://blog.example.com/" } });
    await flush(code);

    const { status, body } = await attribute({ refereeId: "rc-flushed-referee", token });

    expect(status).toBe(201);
    const referralId = (body.referral as Json).id as string;
    expect(await storedClick(referralId)).toMatchObject({ referrerHost: "blog.example.com", agentFamily: "chrome" });
    // The hot window moves on: the row is purged, the referral's copy stays.
    await env.DB.prepare("DELETE FROM clicks WHERE code = ?").bind(code).run();
    const html = await (await page(await login(), `/admin/referrals/${referralId}`)).text();
    expect(html).toContain('<li data-kind="click">');
    expect(html).toContain("via blog.example.com");
  });

  it("keeps the token's time alone for a click already past the hot window", async () => {
    const code = await createCode("rc-cold", "rcc");
    const token = await clickForToken(code, { ip: "198.18.9.3" });
    await flush(code);
    await env.DB.prepare("DELETE FROM clicks WHERE code = ?").bind(code).run();

    const { status, body } = await attribute({ refereeId: "rc-cold-referee", token });

    expect(status).toBe(201);
    const referralId = (body.referral as Json).id as string;
    expect(await storedClick(referralId)).toEqual({
      clickedAt: expect.any(Number),
      country: null,
      referrerHost: null,
      agentFamily: null,
    });
    const html = await (await page(await login(), `/admin/referrals/${referralId}`)).text();
    expect(html).toContain("only the time is known");
  });

  it("stores nothing for a referral made by code alone, and erasure deletes what was stored", async () => {
    const code = await createCode("rc-erase", "rce");
    const byCode = await attribute({ refereeId: "rc-by-code", code });
    expect(byCode.status).toBe(201);
    expect(await storedClick((byCode.body.referral as Json).id as string)).toBeNull();

    const token = await clickForToken(code, { ip: "198.18.9.4" });
    const { body } = await attribute({ refereeId: "rc-erased-referee", token });
    const referralId = (body.referral as Json).id as string;
    expect(await storedClick(referralId)).not.toBeNull();

    expect((await api("/api/users/rc-erased-referee", { method: "DELETE" })).status).toBe(200);
    expect(await storedClick(referralId)).toBeNull();
  });
});
