import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { signAttributionToken, verifyAttributionToken } from "../../src/domain/attribution-token";
import { counterName } from "../../src/durable-objects/code-counter";
import { testBindings } from "../bindings";
import {
  API_KEY,
  attribute,
  BROWSER_UA,
  call,
  click,
  counter,
  countRows,
  createCode,
  readSetCookie,
  registerCode,
} from "../helpers";

const config = parseConfig(testBindings);
let code: string;

beforeAll(async () => {
  code = await createCode("redirect-owner", "alex");
});

describe("GET /r/:code", () => {
  it("redirects a browser to signup with the code and a signed attribution cookie", async () => {
    const before = Date.now();
    const res = await click(code);

    expect(res.status).toBe(302);
    const location = new URL(res.headers.get("location") ?? "");
    expect(location.origin + location.pathname).toBe("https://app.example.com/signup");
    expect(location.searchParams.get("ref")).toBe(code);
    expect(location.searchParams.get("plan")).toBe("free");
    expect(res.headers.get("cache-control")).toBe("no-store");

    const cookie = readSetCookie(res, "ref_token");
    expect(cookie).toBeDefined();
    expect(cookie?.attributes).toEqual(
      expect.arrayContaining(["Max-Age=5184000", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"]),
    );
    expect(cookie?.attributes.some((attribute) => attribute.startsWith("Domain="))).toBe(false);

    const check = await verifyAttributionToken(
      cookie?.value,
      config.attributionKeys,
      Date.now(),
      config.attributionWindowMs,
    );
    expect(check.status).toBe("valid");
    expect(check.kid).toBe("k2");
    expect(check.claims?.code).toBe(code);
    expect(check.claims?.clickId).toMatch(/^[0-9a-f-]{36}$/);
    expect(check.claims?.issuedAt).toBeGreaterThanOrEqual(before);
  });

  it("accepts the code in lower case", async () => {
    const res = await click(code.toLowerCase());
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get("location") ?? "").searchParams.get("ref")).toBe(code);
  });

  it("never takes the destination from the request", async () => {
    const res = await click(`${code}?next=https://evil.example.net/&redirect=//evil.example.net`, {
      headers: { host: "evil.example.net", referer: "https://evil.example.net/" },
    });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get("location") ?? "").host).toBe("app.example.com");
  });

  it("does not count a HEAD request as a click and sets no cookie", async () => {
    const own = await createCode("head-owner", "head");
    const res = await click(own, { method: "HEAD" });

    expect(res.status).toBe(302);
    expect(new URL(res.headers.get("location") ?? "").searchParams.get("ref")).toBe(own);
    expect(readSetCookie(res, "ref_token")).toBeUndefined();
    expect(await counter(own).counters(own)).toEqual({ clicks: 0, uniqueClicks: 0, botClicks: 1 });
  });

  it.each([
    ["Slack", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"],
    ["Twitter", "Twitterbot/1.0"],
    [
      "iMessage",
      "Mozilla/5.0 (Macintosh) AppleWebKit/601.2.4 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    ],
    [
      "Outlook",
      "Mozilla/5.0 (Windows NT 10.0) Chrome/64.0 Safari/537.36 Microsoft Office/16.0 (Microsoft Outlook Mail 16.0.6416; Pro)",
    ],
    ["an empty agent", ""],
  ])("redirects a %s preview without a cookie and counts it as a bot", async (_name, userAgent) => {
    const own = await createCode(`preview-${_name}`, "prev");
    const res = await click(own, { userAgent });

    expect(res.status).toBe(302);
    expect(readSetCookie(res, "ref_token")).toBeUndefined();
    expect(await counter(own).counters(own)).toEqual({ clicks: 0, uniqueClicks: 0, botClicks: 1 });
  });

  it("counts the same visitor once within the unique window but every click exactly", async () => {
    const own = await createCode("unique-owner", "uniq");
    await click(own, { ip: "198.51.100.1" });
    await click(own, { ip: "198.51.100.1" });
    await click(own, { ip: "198.51.100.2" });
    await click(own, { ip: "198.51.100.1", userAgent: `${BROWSER_UA} Other` });

    expect(await counter(own).counters(own)).toEqual({ clicks: 4, uniqueClicks: 3, botClicks: 0 });
  });

  it("counts 200 concurrent clicks on one code as exactly 200", async () => {
    const own = await createCode("busy-owner", "busy");
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => click(own, { ip: `192.0.2.${i % 50}` })));

    expect(responses.every((res) => res.status === 302)).toBe(true);
    expect(await counter(own).counters(own)).toEqual({ clicks: 200, uniqueClicks: 50, botClicks: 0 });
    expect(await counter(own).pendingClicks(own)).toBe(200);
  });

  it("counts a hot code sharded over 4 counters exactly, through the Worker", async () => {
    const sharded = { ...env, CLICK_SHARDS: "4" };
    const own = await createCode("sharded-hot", "shot");
    const responses = await Promise.all(
      Array.from({ length: 300 }, (_, i) => click(own, { ip: `100.70.${i % 60}.1` }, sharded)),
    );
    expect(responses.every((res) => res.status === 302 && readSetCookie(res, "ref_token"))).toBe(true);

    const res = await call(`/api/codes/${own}`, { headers: { authorization: `Bearer ${API_KEY}` } }, sharded);
    expect(((await res.json()) as { stats: object }).stats).toMatchObject({
      clicks: 300,
      uniqueClicks: 60,
      botClicks: 0,
    });
    const used = new Set<string>();
    for (let shard = 0; shard < 4; shard++)
      if ((await counter(own, shard).pendingClicks(own)) > 0) used.add(counterName(own, shard));
    expect(used.size).toBeGreaterThan(1);
  });

  it("redirects a well-formed unknown code at once, never counts it, and refuses to credit its cookie", async () => {
    const unknown = "DEVO-NOPE0000";
    // Nothing is awaited before the answer, so the first click of a code the isolate has no word on gets the usual answer.
    const first = await click(unknown, { ip: "100.81.0.1" });
    expect(first.status).toBe(302);
    expect(new URL(first.headers.get("location") ?? "").searchParams.get("ref")).toBe(unknown);
    const token = readSetCookie(first, "ref_token")?.value;
    expect(token).toBeDefined();
    expect(await counter(unknown).counters(unknown)).toEqual({ clicks: 0, uniqueClicks: 0, botClicks: 0 });
    expect(await counter(unknown).pendingClicks(unknown)).toBe(0);

    // Its counter said the code does not exist: the isolate now sends it to signup plainly.
    const again = await click(unknown, { ip: "100.81.0.2" });
    expect(again.status).toBe(302);
    expect(again.headers.get("location")).toBe("https://app.example.com/signup?plan=free");
    expect(readSetCookie(again, "ref_token")).toBeUndefined();
    expect(await counter(unknown).counters(unknown)).toEqual({ clicks: 0, uniqueClicks: 0, botClicks: 0 });

    const refused = await attribute({ refereeId: "unknown-code-referee", token });
    expect(refused.status).toBe(404);
    expect(refused.body.error?.code).toBe("code_not_found");
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = 'unknown-code-referee'")).toBe(0);
  });

  it("keeps the real code's cookie when the visitor then opens a typo, and credits the real code", async () => {
    const real = await createCode("typo-owner", "typo");
    const held = readSetCookie(await click(real, { ip: "100.81.1.1" }), "ref_token")?.value;
    expect(held).toBeDefined();

    const typo = await click("DEVO-TYPO9999", { ip: "100.81.1.1", headers: { cookie: `other=1; ref_token=${held}` } });
    expect(typo.status).toBe(302);
    // The browser keeps the cookie it holds: the redirect sets none.
    expect(readSetCookie(typo, "ref_token")).toBeUndefined();
    // Nor does the typo's click travel in the URL, where it would be the newer click at attribution.
    const location = new URL(typo.headers.get("location") ?? "");
    expect(location.searchParams.get("ref_click")).toBeNull();

    const credited = await attribute({ refereeId: "typo-referee", token: held, code: "DEVO-TYPO9999" });
    expect(credited.status).toBe(201);
    expect(
      await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = 'typo-referee' AND code = ?", real),
    ).toBe(1);
  });

  it("keeps a held cookie for a code this isolate has no word on, when the new code is not known either", async () => {
    const real = "DEVO-HELD0001";
    await registerCode(real, "held-owner");
    const held = await signAttributionToken(
      { code: real, clickId: crypto.randomUUID(), issuedAt: Date.now(), visitorHash: "0".repeat(32) },
      config.signingKey,
    );
    const res = await click("DEVO-TYPO8888", { headers: { cookie: `ref_token=${held}` } });
    expect(res.status).toBe(302);
    expect(readSetCookie(res, "ref_token")).toBeUndefined();
  });

  it("replaces a held cookie whose code is known not to exist, and one that is not valid", async () => {
    const typo = "DEVO-TYPO7777";
    const stale = readSetCookie(await click(typo, { ip: "100.81.2.1" }), "ref_token")?.value;
    expect(stale).toBeDefined();
    const fresh = "DEVO-FRSH0001";
    await registerCode(fresh, "fresh-owner");

    // The isolate has no word on the fresh code, but knows the held one does not exist: the new click wins.
    const replaced = readSetCookie(
      await click(fresh, { ip: "100.81.2.1", headers: { cookie: `ref_token=${stale}` } }),
      "ref_token",
    );
    const check = await verifyAttributionToken(
      replaced?.value,
      config.attributionKeys,
      Date.now(),
      config.attributionWindowMs,
    );
    expect(check.claims?.code).toBe(fresh);

    const tampered = await click("DEVO-FRSH0002", { headers: { cookie: `ref_token=${stale}x` } });
    expect(readSetCookie(tampered, "ref_token")).toBeDefined();
  });

  it.each([
    ["wrong characters", "DEVO-AL%21X1234"],
    ["no dash", "DEVOALEX1234"],
    ["too long", `DEVO-${"A".repeat(40)}`],
    ["path-looking", "..%2F..%2Fetc"],
    ["SQL-looking", "DEVO-1'%20OR%201=1"],
  ])("treats a malformed code (%s) like an unknown one and touches no Durable Object", async (_name, raw) => {
    const before = (await listDurableObjectIds(env.CODE_COUNTER)).length;
    const res = await click(raw);

    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("https://app.example.com/signup?plan=free");
    expect(readSetCookie(res, "ref_token")).toBeUndefined();
    expect((await listDurableObjectIds(env.CODE_COUNTER)).length).toBe(before);
  });

  it("gives the last clicked code the cookie when a visitor clicks a second link", async () => {
    const other = await createCode("second-owner", "sec");
    const first = readSetCookie(await click(code), "ref_token");
    // The isolate knows the second code exists (it created it): the newer click wins over the cookie held.
    const second = readSetCookie(await click(other, { headers: { cookie: `ref_token=${first?.value}` } }), "ref_token");

    const check = await verifyAttributionToken(
      second?.value,
      config.attributionKeys,
      Date.now(),
      config.attributionWindowMs,
    );
    expect(first?.value).not.toBe(second?.value);
    expect(check.claims?.code).toBe(other);
  });
});
