import { describe, expect, it } from "vitest";
import { EmailSchema } from "../../src/schemas";
import { api, attribute, createCode, type Json } from "../helpers";

/** Addresses RFC 5321/5322 allow and browsers' `<input type="email">` takes. */
const VALID = [
  "y~d9@e.net",
  "o'brien@example.ie",
  "first.last+tag@sub.example.co.uk",
  "a!#$%&*/=?^_`{|}-@example.com",
  "UPPER.case@EXAMPLE.COM",
  "x@xn--bcher-kva.example",
  "1234567890@numbers.example.org",
];

const INVALID = [
  "plainaddress",
  "@example.com",
  "alex@",
  "alex smith@example.com",
  "alex@@example.com",
  "alex@-example.com",
  "alex@example-.com",
  "alex@exa_mple.com",
  "alex@example..com",
  "alex@example.com.",
  "<alex@example.com>",
  `${"a".repeat(250)}@e.net`,
];

describe("email addresses", () => {
  it.each(VALID)("takes %s", (email) => {
    expect(EmailSchema.safeParse(email).success).toBe(true);
  });

  it.each(INVALID)("refuses %s", (email) => {
    expect(EmailSchema.safeParse(email).success).toBe(false);
  });

  it("takes the same addresses on every route that accepts one", async () => {
    const created = await api("/api/codes", { body: { userId: "email-tilde", email: "y~d9@e.net" } });
    expect(created.status).toBe(201);
    const code = await createCode("email-referrer", "eml");
    const attributed = await attribute({
      refereeId: "email-referee",
      code,
      email: "o'brien@example.ie",
      referrerEmail: "y~d9@e.net",
    });
    expect(attributed.status).toBe(201);
  });

  it("refuses the same addresses on every route that accepts one, naming the field", async () => {
    const code = await createCode("email-referrer-2", "eml");
    const refusals = [
      await api("/api/codes", { body: { userId: "email-bad", email: "alex@exa_mple.com" } }),
      await api("/api/attributions", { body: { refereeId: "email-bad-1", code, email: "alex@exa_mple.com" } }),
      await api("/api/attributions", { body: { refereeId: "email-bad-2", code, referrerEmail: "alex@exa_mple.com" } }),
    ];
    const fields = [];
    for (const res of refusals) {
      expect(res.status).toBe(400);
      const body = (await res.json()) as Json;
      expect(body.error?.code).toBe("invalid_request");
      fields.push(body.error?.field);
    }
    expect(fields).toEqual(["email", "email", "referrerEmail"]);
  });
});
