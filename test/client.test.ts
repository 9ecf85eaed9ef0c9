import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createReferralClient, ReferralApiError, verifyEventSignature } from "../src/client";
import { signEvent } from "../src/domain/event-signature";
import { API_KEY, countRows, ORIGIN } from "./helpers";

/** The host product's backend, calling the Worker through the client package's entry point. */
const referrals = createReferralClient({
  baseUrl: `${ORIGIN}/`,
  apiKey: API_KEY,
  fetch: (input, init) => exports.default.fetch(new Request(input, init)),
});

describe("referral-edge/client", () => {
  it("creates a code, attributes a signup and reads entitlements, typed from the routes", async () => {
    const { code, shareUrl } = await referrals.read(
      referrals.api.codes.$post({ json: { userId: "typed-referrer", name: "type" } }),
    );
    expect(shareUrl).toBe(`${ORIGIN}/r/${code}`);

    const { referral, rewards } = await referrals.read(
      referrals.api.attributions.$post({ json: { refereeId: "typed-referee", code } }),
    );
    expect(referral).toMatchObject({ referrerId: "typed-referrer", refereeId: "typed-referee", source: "code" });
    expect(rewards.map((reward) => reward.userId)).toEqual([
      "typed-referee",
      "typed-referee",
      "typed-referee",
      "typed-referrer",
      "typed-referrer",
    ]);

    const entitlements = await referrals.read(
      referrals.api.users[":userId"].entitlements.$get({ param: { userId: "typed-referrer" } }),
    );
    expect(entitlements).toMatchObject({ extraMessages: 10, extraRequests: 5, creditCents: 0, features: [] });
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = 'typed-referee'")).toBe(1);
  });

  it("turns a refusal into a ReferralApiError with the status, code, message and field", async () => {
    const refused = referrals.read(referrals.api.codes.$post({ json: { userId: "x".repeat(200) } }));
    await expect(refused).rejects.toBeInstanceOf(ReferralApiError);
    await expect(refused).rejects.toMatchObject({ status: 400, code: "invalid_request", field: "userId" });

    const unknown = referrals.read(referrals.api.codes[":code"].$get({ param: { code: "DEVO-NONE0000" } }));
    await expect(unknown).rejects.toMatchObject({ name: "ReferralApiError", status: 404, code: "code_not_found" });
    expect(await countRows("SELECT count(*) AS n FROM referral_codes WHERE user_id LIKE 'xxxx%'")).toBe(0);
  });

  it("keeps the status of an answer that is not the service's envelope", async () => {
    const behindProxy = createReferralClient({
      baseUrl: ORIGIN,
      apiKey: API_KEY,
      fetch: async () => new Response("<html>Bad gateway</html>", { status: 502, statusText: "Bad Gateway" }),
    });
    await expect(
      behindProxy.read(behindProxy.api.users[":userId"].entitlements.$get({ param: { userId: "anyone" } })),
    ).rejects.toMatchObject({ status: 502, code: "http_error", message: "502 Bad Gateway" });
  });

  it("sends the API key: a wrong one is refused with 401", async () => {
    const wrongKey = createReferralClient({
      baseUrl: ORIGIN,
      apiKey: "not-a-key-of-this-service",
      fetch: (input, init) => exports.default.fetch(new Request(input, init)),
    });
    await expect(
      wrongKey.read(wrongKey.api.users[":userId"].entitlements.$get({ param: { userId: "anyone" } })),
    ).rejects.toMatchObject({ status: 401 });
  });
});

describe("verifyEventSignature", () => {
  const body = JSON.stringify({ id: "evt_1", type: "reward.granted" });
  const now = Date.UTC(2026, 10, 24, 10, 0, 0);

  it("accepts an event signed with the receiver's secret, among others, within five minutes", async () => {
    const header = await signEvent(body, ["another-secret-0000000", "receiver-secret-000000"], now);
    expect(await verifyEventSignature(body, header, "receiver-secret-000000", now + 299_000)).toBe(true);
  });

  it("refuses a changed body, another secret, a stale or future time, and malformed signatures", async () => {
    const header = await signEvent(body, ["receiver-secret-000000"], now);
    const t = header.split(",")[0];
    expect(await verifyEventSignature(`${body} `, header, "receiver-secret-000000", now)).toBe(false);
    expect(await verifyEventSignature(body, header, "someone-else-secret-00", now)).toBe(false);
    expect(await verifyEventSignature(body, header, "receiver-secret-000000", now + 301_000)).toBe(false);
    expect(await verifyEventSignature(body, header, "receiver-secret-000000", now - 301_000)).toBe(false);
    expect(await verifyEventSignature(body, `${t},v1=abc`, "receiver-secret-000000", now)).toBe(false);
    expect(await verifyEventSignature(body, `${t},v1=${"0".repeat(64)}`, "receiver-secret-000000", now)).toBe(false);
    expect(await verifyEventSignature(body, header.toUpperCase(), "receiver-secret-000000", now)).toBe(false);
    expect(await verifyEventSignature(body, "v1=", "receiver-secret-000000", now)).toBe(false);
  });
});
