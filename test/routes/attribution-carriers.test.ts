import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import {
  signAttributionToken,
  signUrlAttributionToken,
  verifyAttributionToken,
} from "../../src/domain/attribution-token";
import { emailHash } from "../../src/domain/email";
import { testBindings } from "../bindings";
import { attribute, type ClickOptions, click, countRows, createCode, readSetCookie } from "../helpers";

const config = parseConfig(testBindings);

/** Follows a share link as a browser; returns the cookie's token and the URL's token. */
async function clickTokens(code: string, ip = "203.0.113.40") {
  const res = await click(code, { ip });
  const location = new URL(res.headers.get("location") ?? "");
  return {
    res,
    location,
    cookie: readSetCookie(res, "ref_token")?.value,
    url: location.searchParams.get("ref_click") ?? undefined,
  };
}

describe("the click in the signup URL", () => {
  it("adds the compact signed token as ref_click for a browser, naming the same click as the cookie", async () => {
    const code = await createCode("url-owner-1", "uma");
    const { res, location, cookie, url } = await clickTokens(code);

    expect(res.status).toBe(302);
    expect(location.origin + location.pathname).toBe("https://app.example.com/signup");
    expect(location.searchParams.get("ref")).toBe(code);
    expect(location.searchParams.get("plan")).toBe("free");
    expect(url).toMatch(/^[A-Za-z0-9_-]{100,200}$/);
    expect(res.headers.get("location")?.length).toBeLessThan(300);

    const fromUrl = await verifyAttributionToken(url, config.attributionKeys, Date.now(), config.attributionWindowMs);
    const fromCookie = await verifyAttributionToken(
      cookie,
      config.attributionKeys,
      Date.now(),
      config.attributionWindowMs,
    );
    expect(fromUrl).toMatchObject({ status: "valid", carrier: "url", kid: "k2" });
    expect(fromCookie).toMatchObject({ status: "valid", carrier: "cookie" });
    expect(fromUrl.claims).toEqual(fromCookie.claims);
  });

  it.each<[string, ClickOptions]>([
    ["a HEAD request", { method: "HEAD" }],
    ["a link preview bot", { userAgent: "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)" }],
  ])("never gives the token to %s", async (name, options) => {
    const code = await createCode(`url-bot-${name.length}`, "bo");
    const res = await click(code, options);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get("location") ?? "");
    expect(location.searchParams.get("ref")).toBe(code);
    expect(location.searchParams.has("ref_click")).toBe(false);
  });

  it("leaves the URL alone when ATTRIBUTION_URL_PARAM is empty, and uses another name when set", async () => {
    const code = await createCode("url-owner-off", "off");
    const off = await click(code, {}, { ...env, ATTRIBUTION_URL_PARAM: "" } as Env);
    expect(new URL(off.headers.get("location") ?? "").searchParams.has("ref_click")).toBe(false);
    expect(readSetCookie(off, "ref_token")).toBeDefined();

    const renamed = await click(code, {}, { ...env, ATTRIBUTION_URL_PARAM: "rc" } as Env);
    const location = new URL(renamed.headers.get("location") ?? "");
    expect(location.searchParams.has("ref_click")).toBe(false);
    expect(location.searchParams.get("rc")).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("attributes by the URL's token posted as token, with source url, and grants both sides", async () => {
    const code = await createCode("url-owner-2", "val");
    const { url } = await clickTokens(code, "203.0.113.41");

    const { status, body } = await attribute({ refereeId: "url-referee-2", token: url, email: "wes@example.com" });
    expect(status).toBe(201);
    expect(body.tokenStatus).toBe("valid");
    expect(body.referral).toMatchObject({ code, referrerId: "url-owner-2", source: "url", status: "signed_up" });
    expect((body.rewards as unknown[]).length).toBeGreaterThan(0);

    const stored = await env.DB.prepare(
      "SELECT source, click_id AS clickId, referee_email_hash AS hash FROM referrals WHERE referee_id = ?",
    )
      .bind("url-referee-2")
      .first<{ source: string; clickId: string; hash: string }>();
    expect(stored).toEqual({
      source: "url",
      clickId: (body.referral as { clickId: string }).clickId,
      hash: await emailHash(config.visitorSalt, "wes@example.com"),
    });
  });

  it("takes the newer click when the cookie and the URL's token name different clicks", async () => {
    const older = await createCode("url-owner-old", "old");
    const newer = await createCode("url-owner-new", "new");
    const at = Date.now() - 60_000;
    const clickOn = (code: string, issuedAt: number) => ({
      code,
      clickId: crypto.randomUUID(),
      issuedAt,
      visitorHash: "cd".repeat(16),
    });

    // The cookie of the first click stayed behind; the URL carries the second one.
    const { status, body } = await attribute({
      refereeId: "url-referee-3",
      token: await signAttributionToken(clickOn(older, at), config.signingKey),
      urlToken: await signUrlAttributionToken(clickOn(newer, at + 1000), config.signingKey),
    });
    expect(status).toBe(201);
    expect(body.referral).toMatchObject({ code: newer, source: "url" });

    // The other way round the cookie is the newer click, and wins.
    const other = await attribute({
      refereeId: "url-referee-4",
      token: await signAttributionToken(clickOn(newer, at + 1000), config.signingKey),
      urlToken: await signUrlAttributionToken(clickOn(older, at), config.signingKey),
    });
    expect(other.status).toBe(201);
    expect(other.body.referral).toMatchObject({ code: newer, source: "cookie" });
  });

  it("passes over a token for a code that does not exist, so a typo followed first never hides the real code", async () => {
    const real = await createCode("url-owner-typo", "rea");
    const typo = `${real.slice(0, -1)}${real.endsWith("Z") ? "Y" : "Z"}`;
    const clickOn = (code: string, issuedAt: number) => ({
      code,
      clickId: crypto.randomUUID(),
      issuedAt,
      visitorHash: "ef".repeat(16),
    });
    const at = Date.now() - 5_000;
    const typoCookie = await signAttributionToken(clickOn(typo, at + 1000), config.signingKey);

    // The typo's cookie stayed, the real link's URL brought its code: the code attributes.
    const byCode = await attribute({ refereeId: "url-referee-typo-1", token: typoCookie, code: real });
    expect(byCode.status).toBe(201);
    expect(byCode.body.referral).toMatchObject({ code: real, source: "code" });

    // A real click carried in the URL wins over the newer typo's cookie.
    const byUrl = await attribute({
      refereeId: "url-referee-typo-2",
      token: typoCookie,
      urlToken: await signUrlAttributionToken(clickOn(real, at), config.signingKey),
    });
    expect(byUrl.status).toBe(201);
    expect(byUrl.body.referral).toMatchObject({ code: real, source: "url" });

    // With nothing else, the typo is named in a 404 and nothing is stored.
    const alone = await attribute({ refereeId: "url-referee-typo-3", token: typoCookie });
    expect(alone.status).toBe(404);
    expect(alone.body.error).toEqual({ code: "code_not_found", message: `No referral code ${typo}` });
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = 'url-referee-typo-3'")).toBe(0);
  });

  it("prefers a valid token to the ref code, and falls back to the code when the token is forged", async () => {
    const clicked = await createCode("url-owner-5", "cli");
    const typed = await createCode("url-owner-6", "typ");
    const { url } = await clickTokens(clicked, "203.0.113.43");

    const { body } = await attribute({ refereeId: "url-referee-5", urlToken: url, code: typed });
    expect(body.referral).toMatchObject({ code: clicked, source: "url" });

    const forged = await signUrlAttributionToken(
      { code: clicked, clickId: crypto.randomUUID(), issuedAt: Date.now(), visitorHash: "ab".repeat(16) },
      { kid: "k2", secret: "attacker-guess-0000000000" },
    );
    const fallback = await attribute({ refereeId: "url-referee-6", urlToken: forged, code: typed });
    expect(fallback.status).toBe(201);
    expect(fallback.body.tokenStatus).toBe("tampered");
    expect(fallback.body.referral).toMatchObject({ code: typed, source: "code" });
  });

  it("refuses the URL's token of a click the referrer made themselves, as for the cookie", async () => {
    const code = await createCode("url-owner-7", "sel");
    const { url } = await clickTokens(code, "203.0.113.44");
    const { status, body } = await attribute({ refereeId: "url-owner-7", token: url });
    expect(status).toBe(422);
    expect(body.error?.code).toBe("self_referral");
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = 'url-owner-7'")).toBe(0);
  });
});
