import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { keyFingerprint, signSession } from "../../src/admin/auth";
import { parseConfig } from "../../src/config";
import { call, readSetCookie } from "../helpers";
import { ADMIN_KEY, csrfOf, login, nextIp, page, post } from "./console";

const config = parseConfig(env as unknown as Record<string, unknown>);

describe("signing in to the console with an admin key", () => {
  it("sends a visitor without a session to the login page", async () => {
    const res = await page(null, "/admin");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/login");
  });

  it("answers a JSON caller without a session with 401 and the error envelope", async () => {
    const res = await page(null, "/admin/referrers", { accept: "application/json" });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
  });

  it("refuses a form post without a session with 401", async () => {
    const res = await post(null, "/admin/logout", { _csrf: "x" });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  it("shows the login form again with an error for a wrong key", async () => {
    const res = await call("/admin/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": nextIp() },
      body: new URLSearchParams({ key: "not-the-admin-key-at-all" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(await res.text()).toContain("That key is not one of the admin keys.");
  });

  it("does not take an API key as an admin key", async () => {
    const res = await call("/admin/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": nextIp() },
      body: new URLSearchParams({ key: "test-api-key-0123456789" }),
    });
    expect(res.status).toBe(401);
  });

  it("sets a strict, HttpOnly, 12-hour session cookie naming the key's fingerprint, never the key", async () => {
    const res = await call("/admin/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": nextIp() },
      body: new URLSearchParams({ key: ADMIN_KEY }),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin");
    const cookie = readSetCookie(res, "admin_session");
    expect(cookie?.attributes).toEqual(
      expect.arrayContaining(["Max-Age=43200", "Path=/admin", "HttpOnly", "Secure", "SameSite=Strict"]),
    );
    const payload = atob((cookie?.value ?? "").split(".")[0]?.replace(/-/g, "+").replace(/_/g, "/") ?? "");
    expect(payload).not.toContain(ADMIN_KEY);
    const overview = await page({ cookie: `admin_session=${cookie?.value}` }, "/admin");
    expect(overview.status).toBe(200);
    const html = await overview.text();
    expect(html).toContain(await keyFingerprint(ADMIN_KEY));
    expect(html).not.toContain(ADMIN_KEY);
  });

  it("refuses an expired session", async () => {
    const expired = await signSession(config, await keyFingerprint(ADMIN_KEY), Date.now() - 1);
    const res = await page({ cookie: `admin_session=${expired}` }, "/admin");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/login");
  });

  it("refuses a forged session cookie", async () => {
    const session = await login();
    const value = session.cookie.slice("admin_session=".length);
    const [payload = "", signature = ""] = value.split(".");
    const forgedPayload = btoa(JSON.stringify({ sub: "key:attacker", sid: "x", exp: Date.now() + 60_000, kid: "s1" }))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    for (const forged of [`${forgedPayload}.${signature}`, `${payload}.${signature.slice(0, -2)}AA`, "garbage"]) {
      const res = await page({ cookie: `admin_session=${forged}` }, "/admin");
      expect(res.status).toBe(303);
    }
  });

  it("puts strict headers on every console response", async () => {
    for (const res of [await page(null, "/admin/login"), await page(await login(), "/admin")]) {
      expect(res.status).toBe(200);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toMatch(/style-src 'nonce-[0-9a-f]{32}'/);
      expect(csp).not.toContain("unsafe-inline");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("cache-control")).toBe("no-store");
      const nonce = csp.match(/nonce-([0-9a-f]+)/)?.[1];
      expect(await res.text()).toContain(`<style nonce="${nonce}">`);
    }
  });

  it("refuses a post without the CSRF token, or with another session's, with 403", async () => {
    const session = await login();
    const other = await login();
    const otherToken = await csrfOf(other);
    for (const fields of [{}, { _csrf: "" }, { _csrf: otherToken }] as Record<string, string>[]) {
      const res = await post(session, "/admin/logout", fields);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("csrf_invalid");
      expect(res.headers.getSetCookie()).toEqual([]);
    }
    const res = await post(session, "/admin/logout", { _csrf: await csrfOf(session) });
    expect(res.status).toBe(303);
    expect(readSetCookie(res, "admin_session")?.attributes).toEqual(expect.arrayContaining(["Path=/admin"]));
  });

  it("limits login attempts from one address", async () => {
    const bindings = { ...env, ADMIN_LOGIN_LIMITER: env.TIGHT_ADMIN_LOGIN_LIMITER } as typeof env;
    const attempt = () =>
      call(
        "/admin/login",
        {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": "192.0.2.77" },
          body: new URLSearchParams({ key: "wrong-key-wrong-key-0000" }),
        },
        bindings,
      );
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await attempt()).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const res = await attempt();
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("60");
    expect(await res.text()).toContain("Too many attempts");
  });
});

describe("the console behind Cloudflare Access", () => {
  const TEAM = "team.cloudflareaccess.com";
  const AUD = "test-access-audience-0001";
  const CERTS = "https://access-certs.test/cdn-cgi/access/certs";
  const bindings = { ...env, ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD, ACCESS_CERTS_URL: CERTS } as typeof env;

  async function keyPair(kid: string) {
    const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
    return { privateKey, jwk };
  }

  function serveJwks(keys: JWK[]) {
    const real = globalThis.fetch;
    return vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url === CERTS) return Response.json({ keys });
      return real(input, init);
    });
  }

  async function assertion(
    privateKey: CryptoKey,
    kid: string,
    claims: { aud?: string; exp?: number; email?: string } = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ email: claims.email ?? "ops@example.com" })
      .setProtectedHeader({ alg: "RS256", kid })
      .setIssuer(`https://${TEAM}`)
      .setAudience(claims.aud ?? AUD)
      .setSubject("access-user-1")
      .setIssuedAt(now - 60)
      .setExpirationTime(claims.exp ?? now + 600)
      .sign(privateKey);
  }

  // One key set for the whole file: jose caches it per URL, as it does in production.
  let signer: Awaited<ReturnType<typeof keyPair>>;
  beforeAll(async () => {
    signer = await keyPair("access-1");
  });
  beforeEach(() => {
    serveJwks([signer.jwk]);
  });
  afterEach(() => vi.restoreAllMocks());

  it("lets in a request with a valid assertion and names its email as the operator", async () => {
    const { privateKey } = signer;
    const res = await page(
      null,
      "/admin",
      { "cf-access-jwt-assertion": await assertion(privateKey, "access-1") },
      bindings,
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("ops@example.com");
  });

  it("refuses an expired assertion, one for another audience, and one signed by another key", async () => {
    const { privateKey } = signer;
    const stranger = await keyPair("access-1");
    const past = Math.floor(Date.now() / 1000) - 60;
    for (const token of [
      await assertion(privateKey, "access-1", { exp: past }),
      await assertion(privateKey, "access-1", { aud: "someone-else" }),
      await assertion(stranger.privateKey, "access-1"),
      "not.a.jwt",
    ]) {
      const res = await page(null, "/admin", { "cf-access-jwt-assertion": token }, bindings);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    }
  });

  it("fetches the Access keys once and reuses them for later requests", async () => {
    const { privateKey } = signer;
    const spy = serveJwks([signer.jwk]);
    const certFetches = () =>
      spy.mock.calls.filter(([input]) => String(input instanceof Request ? input.url : input) === CERTS).length;
    const headers = { "cf-access-jwt-assertion": await assertion(privateKey, "access-1") };
    expect((await page(null, "/admin", headers, bindings)).status).toBe(200);
    const afterFirst = certFetches();
    expect(afterFirst).toBeLessThanOrEqual(1);
    for (let i = 0; i < 3; i++) expect((await page(null, "/admin", headers, bindings)).status).toBe(200);
    expect(certFetches()).toBe(afterFirst);
  });

  it("ignores an admin session cookie once Access is configured", async () => {
    const session = await login();
    const res = await page(session, "/admin", {}, bindings);
    expect(res.status).toBe(401);
  });

  it("needs the CSRF token on posts behind Access too", async () => {
    const { privateKey } = signer;
    const headers = { "cf-access-jwt-assertion": await assertion(privateKey, "access-1") };
    const refused = await post(null, "/admin/logout", {}, headers, bindings);
    expect(refused.status).toBe(403);
    const html = await (await page(null, "/admin", headers, bindings)).text();
    const token = html.match(/name="_csrf" value="([^"]+)"/)?.[1] ?? "";
    const res = await post(null, "/admin/logout", { _csrf: token }, headers, bindings);
    expect(res.status).toBe(303);
  });
});

describe("the console's settings", () => {
  it("refuses admin keys that are short or repeat an API key, naming the setting only", () => {
    const base = env as unknown as Record<string, unknown>;
    expect(() => parseConfig({ ...base, ADMIN_KEYS: "short" })).toThrow("ADMIN_KEYS");
    expect(() => parseConfig({ ...base, ADMIN_KEYS: "test-api-key-0123456789" })).toThrow(
      "ADMIN_KEYS must not repeat a key from API_KEYS",
    );
    expect(() => parseConfig({ ...base, ACCESS_TEAM_DOMAIN: "team.cloudflareaccess.com" })).toThrow("ACCESS_AUD");
  });

  it("answers 503 when neither admin keys nor Access are configured", async () => {
    const res = await call("/admin", {}, { ...env, ADMIN_KEYS: "" } as typeof env);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("console_disabled");
  });
});
