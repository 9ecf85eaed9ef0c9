import { describe, expect, it } from "vitest";
import { qrSvg } from "../../src/domain/qr";
import { api, call, createCode, ORIGIN, widgetToken } from "../helpers";

describe("the share link as a QR code", () => {
  it("GET /api/codes/{code}/qr.svg answers the share link's QR code as SVG", async () => {
    const code = await createCode("qr-owner", "qr");
    const res = await api(`/api/codes/${code}/qr.svg`);

    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/svg+xml");
    expect(res.headers.get("cache-control")).toBe("private, max-age=3600");
    expect(res.headers.get("content-security-policy")).toBe("default-src 'none'");
    const svg = await res.text();
    expect(svg).toBe(qrSvg(`${ORIGIN}/r/${code}`));
    expect(svg).toMatch(/^<svg [^>]*viewBox="0 0 (\d+) \1"/);
  });

  it("answers 404 for an unknown code, 400 for a malformed one and 401 without the API key", async () => {
    const unknown = await api("/api/codes/DEVO-NONE0000/qr.svg");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "code_not_found" } });

    const malformed = await api("/api/codes/not%20a%20code/qr.svg");
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: "invalid_request", field: "code" } });

    const anonymous = await call("/api/codes/DEVO-NONE0000/qr.svg");
    expect(anonymous.status).toBe(401);
  });

  it("shows the same QR code on the embeddable card, as an image the card's CSP allows", async () => {
    const code = await createCode("qr-card-owner", "card");
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("qr-card-owner")}`);

    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("img-src data:");
    const html = await res.text();
    const src = /<img src="data:image\/svg\+xml;base64,([^"]+)"[^>]*data-testid="qr"/.exec(html)?.[1];
    expect(src && atob(src)).toBe(qrSvg(`${ORIGIN}/r/${code}`));
    expect(html).toContain('alt="QR code of your share link"');
  });
});
