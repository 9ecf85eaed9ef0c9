import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { signAttributionToken, verifyAttributionToken } from "../../src/domain/attribution-token";
import worker from "../../src/index";
import { testBindings } from "../bindings";
import { API_KEY, api, attribute, call, clickForToken, countRows, createCode, type Json } from "../helpers";

type Reward = {
  id: string;
  userId: string;
  type: string;
  amount: number;
  status: string;
  rule: string;
  validUntil: string | null;
};
type Referral = {
  id: string;
  code: string;
  referrerId: string;
  refereeId: string;
  clickId: string | null;
  source: string;
  status: string;
};

const current = { kid: "k2", secret: "test-attribution-secret-new-0000" };

async function rewardsOf(userId: string): Promise<Reward[]> {
  const res = await api(`/api/users/${userId}/rewards?limit=100`);
  return ((await res.json()) as { rewards: Reward[] }).rewards;
}

async function entitlementsOf(userId: string) {
  return (await api(`/api/users/${userId}/entitlements`)).json();
}

describe("POST /api/attributions", () => {
  it("takes a click's cookie through to rewards and entitlements for both users", async () => {
    const code = await createCode("alice", "alice");
    const token = await clickForToken(code, { ip: "198.51.100.20" });

    const { status, body } = await attribute({ refereeId: "bob", token, email: "bob@example.com" });

    expect(status).toBe(201);
    const referral = body.referral as Referral;
    expect(referral).toMatchObject({
      code,
      referrerId: "alice",
      refereeId: "bob",
      source: "cookie",
      status: "signed_up",
    });
    expect(referral.clickId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.tokenStatus).toBe("valid");
    expect((body.rewards as Reward[]).map((r) => [r.userId, r.rule, r.amount]).sort()).toEqual(
      [
        ["alice", "referrer-signup-messages", 10],
        ["alice", "referrer-signup-requests", 5],
        ["bob", "referee-pro-trial", 1],
        ["bob", "referee-welcome-messages", 5],
        ["bob", "referee-welcome-requests", 2],
      ].sort(),
    );

    expect((await rewardsOf("alice")).map((r) => r.status)).toEqual(["active", "active"]);
    expect(await entitlementsOf("alice")).toEqual({
      extraMessages: 10,
      extraRequests: 5,
      creditCents: 0,
      features: [],
      quantities: { extra_messages: 10, extra_requests: 5 },
    });
    const bob = (await entitlementsOf("bob")) as { extraMessages: number; features: { feature: string }[] };
    expect(bob.extraMessages).toBe(5);
    expect(bob.features.map((f) => f.feature)).toEqual(["pro"]);

    const stats = (await (await api(`/api/codes/${code}`)).json()) as { stats: { signups: number } };
    expect(stats.stats.signups).toBe(1);
    expect(
      await countRows("SELECT signups AS n FROM program_daily WHERE day = ?", new Date().toISOString().slice(0, 10)),
    ).toBeGreaterThanOrEqual(1);
  });

  it("attributes by code when there is no cookie", async () => {
    const code = await createCode("carol", "carol");
    const { status, body } = await attribute({ refereeId: "dave", code: code.toLowerCase() });
    expect(status).toBe(201);
    expect(body.referral).toMatchObject({ code, source: "code", clickId: null });
    expect(body.tokenStatus).toBe("missing");
  });

  it.each([
    ["tampered", async (t: string) => `${t.slice(0, -3)}AAA`],
    [
      "unknown_key",
      async () =>
        signAttributionToken(
          { code: "DEVO-ERIN0000", clickId: crypto.randomUUID(), issuedAt: Date.now(), visitorHash: "x" },
          { kid: "k0", secret: "removed-secret-000000000000" },
        ),
    ],
    [
      "expired",
      async () =>
        signAttributionToken(
          {
            code: "DEVO-ERIN0000",
            clickId: crypto.randomUUID(),
            issuedAt: Date.now() - 61 * 86_400_000,
            visitorHash: "x",
          },
          current,
        ),
    ],
    ["malformed", async () => "not-a-token"],
  ])("never trusts a %s token, and falls back to the code", async (status, forge) => {
    const owner = `owner-${status}`;
    const code = await createCode(owner, "erin");
    const other = await createCode(`other-${status}`, "otto");
    const token = await forge(await clickForToken(other));

    const result = await attribute({ refereeId: `referee-${status}`, token, code });
    expect(result.status).toBe(201);
    expect(result.body.tokenStatus).toBe(status);
    expect(result.body.referral).toMatchObject({ code, source: "code", referrerId: owner });
  });

  it("refuses a bad token without a code with 400, and nothing is stored", async () => {
    const { status, body } = await attribute({ refereeId: "nobody-1", token: "garbage" });
    expect(status).toBe(400);
    expect(body.error).toEqual({ code: "no_attribution", message: expect.stringContaining("malformed") });
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = 'nobody-1'")).toBe(0);
  });

  it("answers 404 for an unknown code and 400 for a malformed one or a missing referee", async () => {
    expect((await attribute({ refereeId: "nobody-2", code: "DEVO-NONE0000" })).status).toBe(404);
    const malformed = await attribute({ refereeId: "nobody-2", code: "a b" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error?.field).toBe("code");
    const missing = await attribute({ code: "DEVO-NONE0000" });
    expect(missing.status).toBe(400);
    expect(missing.body.error?.field).toBe("refereeId");
  });

  it("refers a referee once: a later call returns the first referral and grants nothing", async () => {
    const first = await createCode("frank", "frnk");
    const second = await createCode("grace", "grce");
    const created = await attribute({ refereeId: "heidi", code: first });
    const again = await attribute({ refereeId: "heidi", token: await clickForToken(second) });

    expect(created.status).toBe(201);
    expect(again.status).toBe(200);
    expect((again.body.referral as Referral).id).toBe((created.body.referral as Referral).id);
    expect((again.body.referral as Referral).code).toBe(first);
    expect(again.body.rewards).toEqual([]);
    expect(await rewardsOf("grace")).toEqual([]);
    expect(await rewardsOf("heidi")).toHaveLength(3);
  });

  it("doubles nothing under concurrent duplicate calls", async () => {
    const code = await createCode("ivan", "ivan");
    const token = await clickForToken(code);
    const results = await Promise.all(Array.from({ length: 12 }, () => attribute({ refereeId: "judy", token })));

    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(11);
    expect(new Set(results.map((r) => (r.body.referral as Referral).id)).size).toBe(1);
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = 'judy'")).toBe(1);
    expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id IN ('ivan', 'judy')")).toBe(5);
    expect(await countRows("SELECT signups AS n FROM referral_codes WHERE code = ?", code)).toBe(1);
  });

  describe("fraud", () => {
    async function expectRefused(result: { status: number; body: Json }, reason: string, refereeId: string) {
      expect(result.status).toBe(422);
      expect(result.body.error?.code).toBe(reason);
      expect(
        await countRows(
          "SELECT count(*) AS n FROM blocked_attributions WHERE referee_id = ? AND reason = ?",
          refereeId,
          reason,
        ),
      ).toBe(1);
      expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = ?", refereeId)).toBe(0);
      expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = ?", refereeId)).toBe(0);
    }

    it("refuses the code's owner as their own referee", async () => {
      const code = await createCode("mallory", "mal");
      await expectRefused(
        await attribute({ refereeId: "mallory", token: await clickForToken(code) }),
        "self_referral",
        "mallory",
      );
      expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = 'mallory'")).toBe(0);
    });

    it("refuses the referrer's own email, however it is dotted, tagged or cased", async () => {
      const code = await createCode("oscar", "oscr");
      const refused = await attribute({
        refereeId: "oscar-2",
        code,
        email: "O.s.c.a.r+second@Gmail.com",
        referrerEmail: "oscar@gmail.com",
      });
      await expectRefused(refused, "same_email", "oscar-2");
    });

    it("refuses the email given when the code was created", async () => {
      const created = await api("/api/codes", { body: { userId: "peggy", name: "peg", email: "peggy@example.com" } });
      const { code } = (await created.json()) as { code: string };
      await expectRefused(
        await attribute({ refereeId: "peggy-2", code, email: "Peggy+alt@example.com" }),
        "same_email",
        "peggy-2",
      );
      expect((await attribute({ refereeId: "quentin", code, email: "quentin@example.com" })).status).toBe(201);
    });

    it("refuses a referee whose cookie came from the referrer's own browser", async () => {
      // Rupert signs up through Sybil's link, then clicks his own link from the same browser.
      const sybil = await createCode("sybil", "syb");
      await attribute({ refereeId: "rupert", token: await clickForToken(sybil, { ip: "192.0.2.77" }) });
      const rupert = await createCode("rupert", "rup");
      const token = await clickForToken(rupert, { ip: "192.0.2.77" });

      await expectRefused(await attribute({ refereeId: "rupert-alt", token }), "same_visitor", "rupert-alt");
      const fromElsewhere = await clickForToken(rupert, { ip: "192.0.2.78" });
      expect((await attribute({ refereeId: "trent", token: fromElsewhere })).status).toBe(201);
    });
  });

  describe("one click, one referee", () => {
    const attributeWith = async (bindings: Env, body: Record<string, unknown>) => {
      const res = await call(
        "/api/attributions",
        {
          method: "POST",
          headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        },
        bindings,
      );
      return { status: res.status, body: (await res.json()) as Json };
    };
    const config = parseConfig(testBindings);
    const clickIdOf = async (token: string) =>
      (await verifyAttributionToken(token, config.attributionKeys, Date.now(), config.attributionWindowMs)).claims
        ?.clickId;

    it("refuses a second referee on the same click as same_click, records it, and grants nothing", async () => {
      const code = await createCode("uma", "uma");
      const token = await clickForToken(code, { ip: "198.51.100.60" });
      const first = await attribute({ refereeId: "uma-friend-1", token });
      const second = await attribute({ refereeId: "uma-friend-2", token });

      expect(first.status).toBe(201);
      expect(second.status).toBe(422);
      expect(second.body.error?.code).toBe("same_click");
      expect(
        await countRows(
          "SELECT count(*) AS n FROM blocked_attributions WHERE referee_id = 'uma-friend-2' AND reason = 'same_click' AND click_id = ? AND code = ?",
          (first.body.referral as Referral).clickId,
          code,
        ),
      ).toBe(1);
      expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = 'uma-friend-2'")).toBe(0);
      expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = 'uma-friend-2'")).toBe(0);
      expect(await countRows("SELECT signups AS n FROM referral_codes WHERE code = ?", code)).toBe(1);
      // The same referee again is not a second use: it gets its referral back.
      expect((await attribute({ refereeId: "uma-friend-1", token })).status).toBe(200);
      // A fresh click on the same link refers the next referee.
      const next = await attribute({
        refereeId: "uma-friend-2",
        token: await clickForToken(code, { ip: "198.51.100.61" }),
      });
      expect(next.status).toBe(201);
    });

    it("lets a click refer as many referees as MAX_REFEREES_PER_CLICK allows", async () => {
      const bindings: Env = { ...env, MAX_REFEREES_PER_CLICK: "2" };
      const code = await createCode("vera", "vera");
      const token = await clickForToken(code, { ip: "198.51.100.62" });
      const statuses = [];
      for (let i = 1; i <= 3; i++)
        statuses.push((await attributeWith(bindings, { refereeId: `vera-friend-${i}`, token })).status);

      expect(statuses).toEqual([201, 201, 422]);
      expect(await countRows("SELECT count(*) AS n FROM referrals WHERE click_id = ?", await clickIdOf(token))).toBe(2);
      expect(
        await countRows(
          "SELECT count(*) AS n FROM blocked_attributions WHERE referee_id = 'vera-friend-3' AND reason = 'same_click'",
        ),
      ).toBe(1);
    });

    it("credits exactly one of concurrent referees on the same click", async () => {
      const code = await createCode("wanda", "wand");
      const token = await clickForToken(code, { ip: "198.51.100.63" });
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => attribute({ refereeId: `wanda-friend-${i}`, token })),
      );

      expect(results.map((r) => r.status).sort()).toEqual([201, 422, 422, 422, 422, 422, 422, 422]);
      expect(results.filter((r) => r.status === 422).every((r) => r.body.error?.code === "same_click")).toBe(true);
      expect(await countRows("SELECT count(*) AS n FROM referrals WHERE click_id = ?", await clickIdOf(token))).toBe(1);
      expect(
        await countRows(
          "SELECT count(*) AS n FROM blocked_attributions WHERE reason = 'same_click' AND code = ?",
          code,
        ),
      ).toBe(7);
      expect(await countRows("SELECT signups AS n FROM referral_codes WHERE code = ?", code)).toBe(1);
      // Only the winner holds its referee rewards, as one referee would.
      expect(
        await countRows("SELECT count(DISTINCT user_id) AS n FROM rewards WHERE user_id LIKE 'wanda-friend-%'"),
      ).toBe(1);
    });
  });

  it("grants each milestone once, when the referrer's signups reach it", async () => {
    const code = await createCode("victor", "vic");
    const milestoneRewards = async () =>
      (await rewardsOf("victor"))
        .filter((r) => r.rule.startsWith("five-") || r.rule.startsWith("ten-"))
        .map((r) => r.rule)
        .sort();

    for (let i = 1; i <= 4; i++) await attribute({ refereeId: `victor-ref-${i}`, code });
    expect(await milestoneRewards()).toEqual([]);
    await attribute({ refereeId: "victor-ref-5", code });
    expect(await milestoneRewards()).toEqual(["five-signups-messages", "five-signups-requests"]);
    for (let i = 6; i <= 10; i++) await attribute({ refereeId: `victor-ref-${i}`, code });
    expect(await milestoneRewards()).toEqual(["five-signups-messages", "five-signups-requests", "ten-signups-pro"]);
    await attribute({ refereeId: "victor-ref-11", code });
    expect(await milestoneRewards()).toHaveLength(3);
    expect(((await entitlementsOf("victor")) as { extraMessages: number }).extraMessages).toBe(11 * 10 + 50);
  });
});

describe("the reward ledger API", () => {
  it("pages a user's entries newest first", async () => {
    const code = await createCode("walter", "walt");
    for (let i = 0; i < 3; i++) await attribute({ refereeId: `walter-ref-${i}`, code });

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await api(`/api/users/walter/rewards?limit=4${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { rewards: (Reward & { createdAt: string })[]; nextCursor: string | null };
      seen.push(...page.rewards.map((r) => r.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);

    expect(pages).toBe(2);
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    const all = await rewardsOf("walter");
    expect(all.map((r) => r.id)).toEqual(seen);
    const times = all.map((r) => (r as Reward & { createdAt: string }).createdAt);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it("refuses a bad cursor or limit with 400", async () => {
    expect((await api("/api/users/walter/rewards?cursor=nonsense")).status).toBe(400);
    const res = await api("/api/users/walter/rewards?limit=1000");
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error?.field).toBe("limit");
  });

  it("redeems an active reward once, idempotently", async () => {
    const code = await createCode("xavier", "xav");
    await attribute({ refereeId: "yvonne", code });
    const [reward] = await rewardsOf("xavier");

    const first = await api(`/api/rewards/${reward?.id}/redeem`, { method: "POST" });
    const second = await api(`/api/rewards/${reward?.id}/redeem`, { method: "POST" });
    expect(first.status).toBe(200);
    expect(((await first.json()) as Reward).status).toBe("redeemed");
    expect(second.status).toBe(200);
    expect(((await entitlementsOf("xavier")) as { quantities: Record<string, number> }).quantities).toEqual({
      extra_messages: reward?.type === "extra_messages" ? 0 : 10,
      extra_requests: reward?.type === "extra_requests" ? 0 : 5,
    });
  });

  it("refuses to redeem an unknown (404), malformed (400) or expired (409) reward", async () => {
    expect((await api(`/api/rewards/${crypto.randomUUID()}/redeem`, { method: "POST" })).status).toBe(404);
    expect((await api("/api/rewards/nope/redeem", { method: "POST" })).status).toBe(400);

    const code = await createCode("zara", "zara");
    await attribute({ refereeId: "zoe", code });
    await env.DB.prepare("UPDATE rewards SET valid_until = ? WHERE user_id = 'zoe'")
      .bind(Date.now() - 1)
      .run();
    const [reward] = await rewardsOf("zoe");
    const res = await api(`/api/rewards/${reward?.id}/redeem`, { method: "POST" });
    expect(res.status).toBe(409);
    expect(((await res.json()) as Json).error?.code).toBe("invalid_transition");
  });
});

describe("the scheduled handler", () => {
  it("moves rewards past their end to expired, and only those", async () => {
    const code = await createCode("amber", "ambr");
    await attribute({ refereeId: "basil", code });
    const in8Days = Date.now() + 8 * 86_400_000;

    const runCron = () =>
      worker.scheduled(createScheduledController({ scheduledTime: in8Days, cron: "*/15 * * * *" }), env);
    await runCron();

    const statuses = Object.fromEntries((await rewardsOf("basil")).map((r) => [r.rule, r.status]));
    expect(statuses).toEqual({
      "referee-pro-trial": "expired",
      "referee-welcome-messages": "active",
      "referee-welcome-requests": "active",
    });
    // Running again changes nothing.
    await runCron();
    expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = 'basil' AND status = 'expired'")).toBe(1);
  });
});
