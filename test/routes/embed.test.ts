import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signWidgetToken } from "../../src/domain/widget-token";
import { attribute, call, callHost, click, createCode, flush, widgetToken } from "../helpers";

describe("GET /widgets/v1/embed", () => {
  it("renders the card with the user's link, numbers, chart, rewards and leaderboard", async () => {
    const code = await createCode("embed-user", "emb");
    await click(code, { ip: "198.19.0.1" });
    await click(code, { ip: "198.19.0.2" });
    await click(code, { ip: "198.19.0.3" });
    await flush(code);
    await attribute({ refereeId: "embed-ref", code });

    const res = await call(`/widgets/v1/embed?token=${await widgetToken("embed-user")}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain(`value="https://refer.example.com/r/${code}"`);
    expect(html).toMatch(/data-stat="clicks">3</);
    expect(html).toMatch(/data-stat="signups">1</);
    expect(html).toMatch(/data-stat="conversions">0</);
    expect(html).toContain("Last 30 days: 3 clicks and 1 signups");
    expect(html).toContain("+10 messages");
    expect(html).toContain(`https://twitter.com/intent/tweet?`);
    expect(html).toContain(
      `https://www.linkedin.com/sharing/share-offsite/?url=${encodeURIComponent(`https://refer.example.com/r/${code}`)}`,
    );
    expect(html).toContain("mailto:?subject=");
    expect(html).toContain('<label for="share-link"');
    expect(html).toContain("(you)");
  });

  it("puts the link on PUBLIC_URL whatever Host the request names", async () => {
    const code = await createCode("embed-host", "ehst");
    const res = await callHost("http://evil.example", `/widgets/v1/embed?token=${await widgetToken("embed-host")}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`value="https://refer.example.com/r/${code}"`);
    expect(html).not.toContain("evil.example");
  });

  it("sends a strict CSP that lets only the dashboard origins frame it", async () => {
    await createCode("csp-user", "csp");
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("csp-user")}`);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors https://dashboard.example.com http://127.0.0.1:8788");
    const nonce = csp.match(/script-src 'nonce-([0-9a-f]+)'/)?.[1];
    expect(nonce).toBeDefined();
    const html = await res.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).not.toMatch(/ style="/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  });

  it.each([
    ["no token", "", "cannot be shown"],
    ["a forged token", "token=abc.def", "cannot be shown"],
  ])("shows a friendly page for %s", async (_name, query, text) => {
    const res = await call(`/widgets/v1/embed?${query}`);
    expect(res.status).toBe(401);
    const html = await res.text();
    expect(html).toContain(text);
    expect(html).not.toMatch(/Error|at \w+ \(/);
  });

  it("tells the user when their card has expired", async () => {
    const token = await signWidgetToken("csp-user", Date.now() - 1000, {
      kid: "w2",
      secret: "test-widget-secret-new-00000",
    });
    const res = await call(`/widgets/v1/embed?token=${token}`);
    expect(res.status).toBe(401);
    expect(await res.text()).toContain("This referral card has expired");
  });

  it("tells a user without a code that their link is coming", async () => {
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("nobody-yet")}`);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain("No referral link yet");
  });
});

describe("the card's branding", () => {
  const styleOf = (html: string) => html.match(/<style nonce="[0-9a-f]+">([^<]*)<\/style>/)?.[1] ?? "";

  it("uses the generic wording and the default colour without settings", async () => {
    const code = await createCode("brand-default", "bdef");
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("brand-default")}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("<title>Your referrals</title>");
    expect(html).toMatch(/<h1 data-testid="title">Invite friends, earn rewards<\/h1>/);
    const message = `Join me on this product: use my link to get a welcome bonus. https://refer.example.com/r/${code}`;
    expect(html).toContain(`data-message="${message}"`);
    expect(html).toContain(`https://twitter.com/intent/tweet?text=${encodeURIComponent(message)}"`);
    expect(styleOf(html)).toContain(":root { --accent: #3730a3; --accent-ink: #ffffff; --accent-text: #3730a3; }");
  });

  it("carries the configured product name, share text and colour", async () => {
    const code = await createCode("brand-set", "bset");
    const bindings = {
      ...env,
      WIDGET_PRODUCT_NAME: "Acme <Notes> & Co",
      WIDGET_SHARE_TEXT: "I write with {productName}. Sign up at {link} for a free month",
      WIDGET_BRAND_COLOR: "#FFD400",
    } as typeof env;
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("brand-set")}`, {}, bindings);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("<title>Your Acme &lt;Notes&gt; &amp; Co referrals</title>");
    expect(html).toMatch(/<h1 data-testid="title">Invite friends to Acme &lt;Notes&gt; &amp; Co, earn rewards<\/h1>/);
    const message = `I write with Acme <Notes> & Co. Sign up at https://refer.example.com/r/${code} for a free month`;
    expect(html).toContain(
      `data-message="${message.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")}"`,
    );
    expect(html).toContain(`https://twitter.com/intent/tweet?text=${encodeURIComponent(message)}"`);
    expect(html).toContain(`body=${encodeURIComponent(message)}"`);
    // A yellow takes black text, and is too light for links on white: they keep the ink colour.
    expect(styleOf(html)).toContain(":root { --accent: #ffd400; --accent-ink: #000000; --accent-text: #1b1b2f; }");
    // Still the one nonce'd style element and no inline style attribute.
    expect(html.match(/<style/g)).toHaveLength(1);
    expect(html).not.toMatch(/ style="/);
  });

  it("brands the friendly error pages too", async () => {
    const res = await call("/widgets/v1/embed", {}, { ...env, WIDGET_BRAND_COLOR: "#0b6e4f" } as typeof env);
    expect(res.status).toBe(401);
    expect(styleOf(await res.text())).toContain("--accent: #0b6e4f; --accent-ink: #ffffff;");
  });
});

describe("the card's chart", () => {
  it("labels the chart in HTML at 12 CSS px, outside the SVG that scales down on a phone", async () => {
    await createCode("chart-labels", "chl");
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("chart-labels")}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    const svg = html.match(/<svg[^>]*data-testid="chart"[\s\S]*?<\/svg>/)?.[0] ?? "";
    expect(svg).not.toBe("");
    // SVG text is sized in viewBox units: at 375 px the 600-unit chart is ~300 px wide, so 11 units render at ~5.5 px.
    expect(svg).not.toContain("<text");
    expect(svg).not.toContain("font-size");
    const today = new Date().toISOString().slice(0, 10);
    expect(html).toMatch(
      new RegExp(
        `</svg><p class="chart-axis" aria-hidden="true" data-testid="chart-axis"><span>\\d{4}-\\d{2}-\\d{2}</span><span>max 1 a day</span><span>${today}</span></p>`,
      ),
    );
    const rule = html.match(/\.chart-axis \{[^}]*\}/)?.[0] ?? "";
    const size = rule.match(/font-size: (\d+(?:\.\d+)?)px;/);
    expect(size).not.toBeNull();
    expect(Number(size?.[1])).toBeGreaterThanOrEqual(11);
  });
});
