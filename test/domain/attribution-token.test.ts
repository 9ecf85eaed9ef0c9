import { describe, expect, it } from "vitest";
import type { SigningKey } from "../../src/config";
import {
  signAttributionToken,
  signUrlAttributionToken,
  verifyAttributionToken,
} from "../../src/domain/attribution-token";

const current: SigningKey = { kid: "k2", secret: "current-secret-0000000000" };
const retired: SigningKey = { kid: "k1", secret: "retired-secret-0000000000" };
const removed: SigningKey = { kid: "k0", secret: "removed-secret-0000000000" };
const WINDOW = 60 * 86_400_000;
const now = Date.UTC(2026, 10, 24, 12);
const claims = {
  code: "DEVO-ALEX1234",
  clickId: "4a4e0d0c-1111-4222-8333-444455556666",
  issuedAt: now,
  visitorHash: "ab".repeat(16),
};

describe("attribution tokens", () => {
  it("round-trips the claims with the signing key", async () => {
    const token = await signAttributionToken(claims, current);
    expect(await verifyAttributionToken(token, [current, retired], now, WINDOW)).toEqual({
      status: "valid",
      kid: "k2",
      carrier: "cookie",
      claims,
    });
  });

  it("still verifies a cookie signed with a retired key that is still listed", async () => {
    const token = await signAttributionToken(claims, retired);
    expect((await verifyAttributionToken(token, [current, retired], now, WINDOW)).status).toBe("valid");
  });

  it("refuses a cookie signed with a key that was removed from the list", async () => {
    const token = await signAttributionToken(claims, removed);
    expect((await verifyAttributionToken(token, [current, retired], now, WINDOW)).status).toBe("unknown_key");
  });

  it("refuses a cookie re-signed with a wrong secret under a listed kid", async () => {
    const token = await signAttributionToken(claims, { kid: "k2", secret: "attacker-guess-000000000" });
    expect((await verifyAttributionToken(token, [current], now, WINDOW)).status).toBe("tampered");
  });

  it("refuses a payload changed after signing", async () => {
    const token = await signAttributionToken(claims, current);
    const [, signature] = token.split(".");
    const forged = await signAttributionToken({ ...claims, code: "DEVO-EVIL0000" }, current);
    const [forgedPayload] = forged.split(".");
    expect((await verifyAttributionToken(`${forgedPayload}.${signature}`, [current], now, WINDOW)).status).toBe(
      "tampered",
    );
  });

  it("expires exactly after the attribution window", async () => {
    const token = await signAttributionToken(claims, current);
    expect((await verifyAttributionToken(token, [current], now + WINDOW, WINDOW)).status).toBe("valid");
    expect((await verifyAttributionToken(token, [current], now + WINDOW + 1, WINDOW)).status).toBe("expired");
  });

  it("refuses a token stamped in the future", async () => {
    const token = await signAttributionToken({ ...claims, issuedAt: now + 3_600_000 }, current);
    expect((await verifyAttributionToken(token, [current], now, WINDOW)).status).toBe("malformed");
  });

  it.each([
    ["nothing", undefined, "missing"],
    ["an empty string", "", "missing"],
    ["random text", "hello", "malformed"],
    ["three parts", "a.b.c", "malformed"],
    ["bad base64", "***.***", "malformed"],
    ["JSON that is not an object", `${btoa("[1]")}.AAAA`, "malformed"],
    ["an enormous value", "A".repeat(5000), "malformed"],
  ])("reports %s as %s", async (_name, token, status) => {
    expect((await verifyAttributionToken(token, [current], now, WINDOW)).status).toBe(status);
  });

  it("never accepts a truncated token", async () => {
    const token = await signAttributionToken(claims, current);
    for (let cut = 1; cut < token.length; cut += 7) {
      expect((await verifyAttributionToken(token.slice(0, cut), [current], now, WINDOW)).status).not.toBe("valid");
    }
  });
});

describe("the compact token for URLs", () => {
  it("round-trips the claims and says it came through the URL", async () => {
    const token = await signUrlAttributionToken(claims, current);
    expect(await verifyAttributionToken(token, [current, retired], now, WINDOW)).toEqual({
      status: "valid",
      kid: "k2",
      carrier: "url",
      claims,
    });
  });

  it("is 116 characters for a 13-character code, 146 at most, and safe in a URL and a client_reference_id", async () => {
    const token = await signUrlAttributionToken(claims, current);
    expect(token).toHaveLength(116);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    const longest = await signUrlAttributionToken(
      { ...claims, code: "ABCDEFGHIJKL-ABCDEFGH" },
      { kid: "k".repeat(16), secret: current.secret },
    );
    expect(longest).toHaveLength(146);
    expect(`ref_${longest}`.length).toBeLessThanOrEqual(200);
  });

  it("still verifies with a retired key that is listed, and not once it is removed", async () => {
    const token = await signUrlAttributionToken(claims, retired);
    expect((await verifyAttributionToken(token, [current, retired], now, WINDOW)).status).toBe("valid");
    expect((await verifyAttributionToken(token, [current], now, WINDOW)).status).toBe("unknown_key");
  });

  it("refuses a wrong secret under a listed kid, and any changed byte", async () => {
    const forged = await signUrlAttributionToken(claims, { kid: "k2", secret: "attacker-guess-000000000" });
    expect((await verifyAttributionToken(forged, [current], now, WINDOW)).status).toBe("tampered");
    const token = await signUrlAttributionToken(claims, current);
    for (let at = 0; at < token.length; at += 5) {
      const changed = token.slice(0, at) + (token[at] === "A" ? "B" : "A") + token.slice(at + 1);
      expect((await verifyAttributionToken(changed, [current], now, WINDOW)).status).not.toBe("valid");
    }
  });

  it("expires exactly after the attribution window and refuses a future stamp", async () => {
    const token = await signUrlAttributionToken(claims, current);
    expect((await verifyAttributionToken(token, [current], now + WINDOW, WINDOW)).status).toBe("valid");
    expect((await verifyAttributionToken(token, [current], now + WINDOW + 1, WINDOW)).status).toBe("expired");
    const future = await signUrlAttributionToken({ ...claims, issuedAt: now + 3_600_000 }, current);
    expect((await verifyAttributionToken(future, [current], now, WINDOW)).status).toBe("malformed");
  });

  it("never accepts a truncated token", async () => {
    const token = await signUrlAttributionToken(claims, current);
    for (let cut = 1; cut < token.length; cut += 3) {
      expect((await verifyAttributionToken(token.slice(0, cut), [current], now, WINDOW)).status).not.toBe("valid");
    }
  });
});
