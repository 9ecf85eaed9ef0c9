import { describe, expect, it } from "vitest";
import { type Carrier, winningCarrier } from "../../src/domain/attribution-source";

const click = (issuedAt: number) => ({ clickId: `click-${issuedAt}`, issuedAt, visitorHash: "ab".repeat(16) });
const cookie = (at: number): Carrier => ({ source: "cookie", code: "DEVO-COOK0001", click: click(at) });
const url = (at: number): Carrier => ({ source: "url", code: "DEVO-URLS0001", click: click(at) });
const promotion: Carrier = { source: "promotion_code", code: "DEVO-PROM0001" };
const code: Carrier = { source: "code", code: "DEVO-CODE0001" };
const email: Carrier = { source: "email_match", code: "DEVO-MAIL0001" };

describe("which carrier wins", () => {
  it("is nobody without carriers", () => {
    expect(winningCarrier([])).toBeNull();
  });

  it("ranks a token over a promotion code over the ref code over an email match, in any order", () => {
    const all = [email, code, promotion, cookie(1)];
    for (let shift = 0; shift < all.length; shift++) {
      const order = [...all.slice(shift), ...all.slice(0, shift)];
      expect(winningCarrier(order)?.source).toBe("cookie");
    }
    expect(winningCarrier([code, email, promotion])).toBe(promotion);
    expect(winningCarrier([email, code])).toBe(code);
    expect(winningCarrier([email])).toBe(email);
  });

  it("takes the newer click between the cookie and the URL's token, the cookie on a tie", () => {
    expect(winningCarrier([cookie(1), url(2)])?.source).toBe("url");
    expect(winningCarrier([url(2), cookie(1)])?.source).toBe("url");
    expect(winningCarrier([cookie(3), url(2)])?.source).toBe("cookie");
    expect(winningCarrier([cookie(2), url(2)])?.source).toBe("cookie");
    expect(winningCarrier([url(2), cookie(2)])?.source).toBe("cookie");
  });
});
