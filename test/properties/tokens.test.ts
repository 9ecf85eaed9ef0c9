import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { signAttributionToken } from "../../src/domain/attribution-token";
import { toBase64Url } from "../../src/domain/crypto";
import { attribute, clickForToken, countRows, createCode } from "../helpers";

/**
 * Forged attribution cookies: random, truncated, altered, re-signed with a
 * wrong key, or genuine but past the window. None may ever attribute.
 */

const WINDOW_MS = 60 * 86_400_000;
const current = { kid: "k2", secret: "test-attribution-secret-new-0000" };
let referees = 0;

describe("attribution token forgery", () => {
  it("never attributes by a token that is not exactly one the service issued, inside the window", async () => {
    const victim = await createCode("forgery-victim", "vic");
    const fallback = await createCode("forgery-fallback", "fbk");
    const genuine = await clickForToken(victim, { ip: "100.95.0.1" });
    const [payload = "", signature = ""] = genuine.split(".");
    const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;

    const forgeries = fc.oneof(
      // Random strings, and random strings shaped like tokens.
      fc.string({ maxLength: 400 }),
      fc.tuple(fc.base64String(), fc.base64String()).map(([a, b]) => `${a}.${b}`),
      // The genuine token cut short anywhere.
      fc.integer({ min: 0, max: genuine.length - 1 }).map((cut) => genuine.slice(0, cut)),
      // One character of the genuine token changed.
      fc
        .tuple(fc.integer({ min: 0, max: genuine.length - 1 }), fc.constantFrom(..."ABCabc012-_=.+/"))
        .filter(([at, char]) => genuine[at] !== char)
        .map(([at, char]) => genuine.slice(0, at) + char + genuine.slice(at + 1)),
      // Claims changed (another code, click, time) and signed with a guessed secret under a real kid.
      fc
        .record({
          c: fc.constantFrom(victim, fallback, "DEVO-EVIL0000"),
          secret: fc.string({ minLength: 16, maxLength: 40 }),
        })
        .map(({ c, secret }) =>
          signAttributionToken(
            { code: c, clickId: crypto.randomUUID(), issuedAt: Date.now(), visitorHash: "f".repeat(32) },
            { kid: "k2", secret },
          ),
        ),
      // The genuine payload with a changed claim and the old signature.
      fc.constantFrom("c", "k", "t", "vh").map((key) => {
        const changed = { ...claims, [key]: key === "t" ? Date.now() : "tampered" };
        return `${toBase64Url(new TextEncoder().encode(JSON.stringify(changed)))}.${signature}`;
      }),
      // Genuinely signed, but issued before the attribution window.
      fc.integer({ min: 1, max: 400 }).map((days) =>
        signAttributionToken(
          {
            code: victim,
            clickId: crypto.randomUUID(),
            issuedAt: Date.now() - WINDOW_MS - days * 3_600_000,
            visitorHash: "e".repeat(32),
          },
          current,
        ),
      ),
    );

    let tried = 0;
    await fc.assert(
      fc.asyncProperty(forgeries, fc.boolean(), async (forged, withFallback) => {
        const token = await forged;
        if (token === genuine) return;
        tried++;
        const refereeId = `forgery-referee-${++referees}`;
        const result = await attribute({ refereeId, token, ...(withFallback ? { code: fallback } : {}) });
        if (withFallback) {
          // The code in the URL may attribute; the cookie never does.
          expect(result.status).toBe(201);
          expect(result.body.referral).toMatchObject({ code: fallback, source: "code", clickId: null });
        } else {
          expect([400, 404]).toContain(result.status);
          expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referee_id = ?", refereeId)).toBe(0);
        }
        expect(result.body.tokenStatus ?? "refused").not.toBe("valid");
      }),
      { numRuns: 300 },
    );
    console.log(`token forgery: ${tried} forged tokens tried, 0 attributed by cookie`);
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE code = ? AND source = 'cookie'", victim)).toBe(0);
  });
});
