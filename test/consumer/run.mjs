// The built client, run as an installed package on Node: imported by its
// package name, against a stand-in for the service.
import assert from "node:assert/strict";
import { createReferralClient, ReferralApiError, verifyEventSignature } from "referral-edge/client";

const seen = [];
const referrals = createReferralClient({
  baseUrl: "https://refer.example.com/",
  apiKey: "host-api-key-0000",
  fetch: async (input, init) => {
    const request = new Request(input, init);
    seen.push({ url: request.url, authorization: request.headers.get("authorization"), body: await request.text() });
    if (request.url.endsWith("/api/attributions"))
      return Response.json(
        { error: { code: "self_referral", message: "A user cannot refer themselves" } },
        { status: 422 },
      );
    return Response.json(
      { code: "DEVO-ALEX1234", userId: "user_123", shareUrl: "https://refer.example.com/r/DEVO-ALEX1234" },
      { status: 201 },
    );
  },
});

const created = await referrals.read(referrals.api.codes.$post({ json: { userId: "user_123", name: "Alex" } }));
assert.equal(created.code, "DEVO-ALEX1234");
assert.deepEqual(seen[0], {
  url: "https://refer.example.com/api/codes",
  authorization: "Bearer host-api-key-0000",
  body: JSON.stringify({ userId: "user_123", name: "Alex" }),
});

await assert.rejects(
  referrals.read(referrals.api.attributions.$post({ json: { refereeId: "user_123", code: "DEVO-ALEX1234" } })),
  (error) => {
    assert.ok(error instanceof ReferralApiError);
    assert.deepEqual(
      [error.status, error.code, error.message, error.field],
      [422, "self_referral", "A user cannot refer themselves", undefined],
    );
    return true;
  },
);

// A header made the way the service signs: t=<seconds>,v1=<hex HMAC-SHA256 of "t.body">.
const body = '{"id":"evt_1"}';
const t = 1_800_000_000;
const key = await crypto.subtle.importKey(
  "raw",
  new TextEncoder().encode("receiver-secret"),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["sign"],
);
const mac = Buffer.from(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${t}.${body}`))).toString(
  "hex",
);
assert.equal(await verifyEventSignature(body, `t=${t},v1=${mac}`, "receiver-secret", t * 1000), true);
assert.equal(await verifyEventSignature(body, `t=${t},v1=${mac}`, "another-secret", t * 1000), false);
console.log("client: the built package runs on Node: typed calls, ReferralApiError, verifyEventSignature");
