import { exports } from "cloudflare:workers";
import { hc } from "hono/client";
import { describe, expect, it } from "vitest";
import type { AppType } from "../src/index";
import { API_KEY, ORIGIN } from "./helpers";

/** The host product's backend calling the service through the exported app type. */
const client = hc<AppType>(ORIGIN, {
  fetch: (input: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(new Request(input, init)),
  headers: { authorization: `Bearer ${API_KEY}` },
});

describe("the typed client (hono/client)", () => {
  it("creates a code, attributes a signup and reads entitlements with typed bodies", async () => {
    const created = await client.api.codes.$post({ json: { userId: "typed-referrer", name: "type" } });
    expect(created.status).toBe(201);
    const code = await created.json();
    if (!("code" in code)) throw new Error("expected a code");

    const attributed = await client.api.attributions.$post({ json: { refereeId: "typed-referee", code: code.code } });
    expect(attributed.status).toBe(201);
    const result = await attributed.json();
    if (!("referral" in result)) throw new Error("expected a referral");
    expect(result.referral.referrerId).toBe("typed-referrer");

    const res = await client.api.users[":userId"].entitlements.$get({ param: { userId: "typed-referrer" } });
    const entitlements = await res.json();
    if (!("extraMessages" in entitlements)) throw new Error("expected entitlements");
    expect(entitlements.extraMessages).toBe(10);
  });
});
