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
