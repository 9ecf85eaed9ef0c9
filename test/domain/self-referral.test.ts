import { describe, expect, it } from "vitest";
import { emailHash } from "../../src/domain/email";
import {
  type PaymentIdentity,
  payerIdentities,
  selfReferralAt,
  selfReferralClawback,
} from "../../src/domain/self-referral";

const SECRET = "test-visitor-salt-0123456789";
const DAY = 86_400_000;
const card = (hash: string, seenAt: number): PaymentIdentity => ({ kind: "card", hash, seenAt });
const email = (hash: string, seenAt: number): PaymentIdentity => ({ kind: "email", hash, seenAt });

describe("who paid, as identities", () => {
  it("hashes the card's fingerprint and the normalised billing email with the key, keeping neither", async () => {
    const [byCard, byEmail] = await payerIdentities(SECRET, {
      cardFingerprint: "AOB934RVNwzk6xtn",
      email: "Alex.Owner+ref@gmail.com",
      at: 1000,
    });
    expect(byCard).toMatchObject({ kind: "card", seenAt: 1000 });
    expect(byCard?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(byCard?.hash).not.toContain("AOB934");
    expect(byEmail).toEqual({ kind: "email", hash: await emailHash(SECRET, "alexowner@gmail.com"), seenAt: 1000 });
    const [other] = await payerIdentities("another-key-0123456789", {
      cardFingerprint: "AOB934RVNwzk6xtn",
      email: null,
      at: 1,
    });
    expect(other?.hash).not.toBe(byCard?.hash);
  });

  it("has nothing to say about a payment without a card fingerprint or a usable email", async () => {
    expect(await payerIdentities(SECRET, { cardFingerprint: null, email: null, at: 1 })).toEqual([]);
    expect(await payerIdentities(SECRET, { cardFingerprint: "  ", email: "not an email", at: 1 })).toEqual([]);
  });
});

describe("when a referral became a self-referral", () => {
  it("is the later of the two sightings of the first identity both sides used", () => {
    expect(selfReferralAt([card("a", 50)], [card("a", 10)])).toBe(50);
    expect(selfReferralAt([card("a", 10)], [card("a", 50)])).toBe(50);
    // Two shared identities: the earliest moment either was shared by both.
    expect(selfReferralAt([card("a", 100), email("e", 30)], [card("a", 10), email("e", 60)])).toBe(60);
    // A sighting seen again later keeps its earliest time.
    expect(selfReferralAt([card("a", 100), card("a", 20)], [card("a", 10)])).toBe(20);
  });

  it("never matches a card against an email, or different values", () => {
    expect(selfReferralAt([card("x", 1)], [email("x", 1)])).toBeNull();
    expect(selfReferralAt([card("x", 1)], [card("y", 1)])).toBeNull();
    expect(selfReferralAt([], [card("x", 1)])).toBeNull();
  });

  it("is the same whatever order the sightings arrived in", () => {
    const referee = [card("a", 100), email("e", 30), card("b", 70)];
    const referrer = [email("e", 60), card("a", 10), card("b", 5)];
    const expected = selfReferralAt(referee, referrer);
    expect(expected).toBe(60);
    expect(selfReferralAt([...referee].reverse(), [...referrer].reverse())).toBe(expected);
  });
});

describe("what a self-referral takes back", () => {
  const clawback = 30 * DAY;
  it("takes back a reward earned within the clawback window, from when it was found", () => {
    expect(selfReferralClawback(10 * DAY, 0, clawback)).toBe(10 * DAY);
    expect(selfReferralClawback(30 * DAY, 0, clawback)).toBe(30 * DAY);
  });
  it("takes back at once a reward earned after it was found", () => {
    expect(selfReferralClawback(5 * DAY, 9 * DAY, clawback)).toBe(9 * DAY);
  });
  it("leaves alone a reward earned longer ago than the window, or when nothing was found", () => {
    expect(selfReferralClawback(30 * DAY + 1, 0, clawback)).toBeNull();
    expect(selfReferralClawback(null, 0, clawback)).toBeNull();
  });
});
