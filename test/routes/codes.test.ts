import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { API_KEY, api, call, callHost, click, countRows, createCode } from "../helpers";

type CodeBody = { code: string; userId: string; shareUrl: string; createdAt: string };
type ErrorBody = { error: { code: string; message: string; field?: string } };

describe("API keys", () => {
  it("refuses a request without a key with 401 and the error envelope", async () => {
    const res = await call("/api/codes/DEVO-ALEX1234");
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: "unauthorized", message: expect.stringContaining("Bearer") } });
  });

  it("refuses a wrong key, and a key that differs only in length", async () => {
    for (const key of ["wrong-key-0000000000000", `${API_KEY}x`, API_KEY.slice(0, -1)]) {
      const res = await call("/api/codes/DEVO-ALEX1234", { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(401);
      expect(((await res.json()) as ErrorBody).error.code).toBe("unauthorized");
    }
  });

  it("accepts every key in the list, so keys rotate without downtime", async () => {
    const res = await call("/api/codes", {
      method: "POST",
      headers: { authorization: "Bearer test-api-key-retired-0001", "content-type": "application/json" },
      body: JSON.stringify({ userId: "rotation-user" }),
    });
    expect(res.status).toBe(201);
  });
});

describe("POST /api/codes", () => {
  it("creates PREFIX-NAMEnnnn for a new user with 201", async () => {
    const res = await api("/api/codes", { body: { userId: "user-alex", name: "Alex Smith" } });
    expect(res.status).toBe(201);
    const body = (await res.json()) as CodeBody;
    expect(body.code).toMatch(/^DEVO-ALEX\d{4}$/);
    expect(body).toEqual({
      code: body.code,
      userId: "user-alex",
      shareUrl: `https://refer.example.com/r/${body.code}`,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(await countRows("SELECT count(*) AS n FROM referral_codes WHERE user_id = ?", "user-alex")).toBe(1);
  });

  it("returns the same code with 200 on a second call", async () => {
    const first = (await (await api("/api/codes", { body: { userId: "user-twice", name: "bo" } })).json()) as CodeBody;
    const res = await api("/api/codes", { body: { userId: "user-twice", name: "other" } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as CodeBody).code).toBe(first.code);
  });

  it.each([
    ["upper-cases and strips to A-Z0-9", "j.o-e!", /^DEVO-JOE\d{4}$/],
    ["keeps at most 4 characters", "Maximilian", /^DEVO-MAXI\d{4}$/],
    ["keeps digits", "r2-d2", /^DEVO-R2D2\d{4}$/],
    ["uses random letters for a name with nothing usable", "🙂 ü", /^DEVO-[A-Z]{4}\d{4}$/],
  ])("%s", async (_name, name, pattern) => {
    expect(await createCode(`user-${_name}`, name)).toMatch(pattern);
  });

  it("does not put the user id in a code created without a name", async () => {
    const code = await createCode("secretuserid");
    expect(code).toMatch(/^DEVO-[A-Z]{4}\d{4}$/);
    expect(code).not.toContain("SECR");
  });

  it("gives concurrent calls for different users different codes", async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => api("/api/codes", { body: { userId: `crowd-${i}`, name: "zed" } })),
    );
    const codes = await Promise.all(results.map(async (res) => ((await res.json()) as CodeBody).code));
    expect(results.every((res) => res.status === 201)).toBe(true);
    expect(new Set(codes).size).toBe(40);
  });

  it("creates one code for concurrent calls for the same user", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => api("/api/codes", { body: { userId: "racer", name: "race" } })),
    );
    const codes = await Promise.all(results.map(async (res) => ((await res.json()) as CodeBody).code));
    expect(results.filter((res) => res.status === 201)).toHaveLength(1);
    expect(results.filter((res) => res.status === 200)).toHaveLength(19);
    expect(new Set(codes).size).toBe(1);
    expect(await countRows("SELECT count(*) AS n FROM referral_codes WHERE user_id = ?", "racer")).toBe(1);
  });

  it.each([
    [{}, "userId"],
    [{ userId: 42 }, "userId"],
    [{ userId: "" }, "userId"],
    [{ userId: "x".repeat(200) }, "userId"],
    [{ userId: "ok", name: 7 }, "name"],
    [{ userId: "ok", email: "not-an-email" }, "email"],
  ])("refuses %j with 400 naming the field", async (body, field) => {
    const before = await countRows("SELECT count(*) AS n FROM referral_codes");
    const res = await api("/api/codes", { body });
    expect(res.status).toBe(400);
    const error = ((await res.json()) as ErrorBody).error;
    expect(error.code).toBe("invalid_request");
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
    expect(await countRows("SELECT count(*) AS n FROM referral_codes")).toBe(before);
  });

  it("refuses malformed JSON with 400", async () => {
    const res = await call("/api/codes", {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: '{"userId": "x",',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.code).toBe("invalid_json");
  });
});

describe("GET /api/codes/:code", () => {
  it("returns the code with live counters before any flush", async () => {
    const code = await createCode("stats-owner", "stat");
    await click(code, { ip: "192.0.2.1" });
    await click(code, { ip: "192.0.2.1" });
    await click(code, { method: "HEAD" });

    const res = await api(`/api/codes/${code}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      code,
      userId: "stats-owner",
      shareUrl: `https://refer.example.com/r/${code}`,
      stats: { clicks: 2, uniqueClicks: 1, botClicks: 1, signups: 0, conversions: 0 },
    });
    // Nothing has reached D1 yet: the counters came from the Durable Object.
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(0);
  });

  it("answers 404 for an unknown code and 400 for a malformed one", async () => {
    const unknown = await api("/api/codes/DEVO-NONE0000");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as ErrorBody).error.code).toBe("code_not_found");

    const malformed = await api("/api/codes/not_a_code!");
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as ErrorBody).error.field).toBe("code");
  });
});

describe("unknown routes", () => {
  it("answer 404 in the error envelope", async () => {
    for (const path of ["/nope", "/api/nope", "/r/"]) {
      const res = await (path.startsWith("/api") ? api(path) : call(path));
      expect(res.status).toBe(404);
      expect(((await res.json()) as ErrorBody).error.code).toBe("not_found");
    }
  });
});

describe("share links", () => {
  it("refuses to serve without PUBLIC_URL, naming the setting, rather than guess links from the Host", async () => {
    const res = await call(
      "/api/codes",
      {
        method: "POST",
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ userId: "no-public-url" }),
      },
      { ...env, PUBLIC_URL: "" },
    );
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      error: { code: "misconfigured", message: expect.stringContaining("PUBLIC_URL is required") },
    });
    expect(await countRows("SELECT count(*) AS n FROM referral_codes WHERE user_id = 'no-public-url'")).toBe(0);
  });

  it("builds shareUrl from PUBLIC_URL alone: a forged Host changes no answer of the codes API", async () => {
    const evil = (path: string, method = "GET", body?: unknown) =>
      callHost("http://evil.example", path, {
        method,
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const created = await evil("/api/codes", "POST", { userId: "host-owner", name: "host" });
    expect(created.status).toBe(201);
    const { code, shareUrl } = (await created.json()) as CodeBody;
    expect(shareUrl).toBe(`https://refer.example.com/r/${code}`);

    const again = await evil("/api/codes", "POST", { userId: "host-owner" });
    expect(again.status).toBe(200);
    expect(((await again.json()) as CodeBody).shareUrl).toBe(`https://refer.example.com/r/${code}`);
    const read = await evil(`/api/codes/${code}`);
    expect(read.status).toBe(200);
    expect(((await read.json()) as CodeBody).shareUrl).toBe(`https://refer.example.com/r/${code}`);
    const renamed = await evil(`/api/codes/${code}`, "PATCH", { displayName: "Host Owner" });
    expect(renamed.status).toBe(200);
    expect(((await renamed.json()) as CodeBody).shareUrl).toBe(`https://refer.example.com/r/${code}`);
  });
});
