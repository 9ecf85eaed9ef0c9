import { describe, expect, it } from "vitest";
import { emailHash, normalizeEmail } from "../../src/domain/email";

describe("emails", () => {
  it.each([
    ["Alex@Example.com", "alex@example.com"],
    ["alex+promo@example.com", "alex@example.com"],
    ["a.l.e.x@gmail.com", "alex@gmail.com"],
    ["A.Lex+x@GoogleMail.com", "alex@gmail.com"],
    ["a.lex@example.com", "a.lex@example.com"],
    ["  alex@example.com ", "alex@example.com"],
  ])("normalises %s to %s", (email, expected) => {
    expect(normalizeEmail(email)).toBe(expected);
  });

  it("hashes equal mailboxes equally, with a key", async () => {
    expect(await emailHash("key-000000000000000", "Alex+1@gmail.com")).toBe(
      await emailHash("key-000000000000000", "a.lex@gmail.com"),
    );
    expect(await emailHash("key-000000000000000", "alex@gmail.com")).not.toBe(
      await emailHash("key-111111111111111", "alex@gmail.com"),
    );
  });
});
