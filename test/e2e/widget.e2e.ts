import { mkdirSync } from "node:fs";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PORT_OFFSET, startLocalService } from "../../scripts/local-service.mjs";
import { expectAccessible } from "./accessibility.ts";
import { haveBrowser, launchChromium } from "./browser.ts";

const PORT = 8788 + E2E_PORT_OFFSET;

type Service = { base: string; apiKey: string; stop: () => Promise<void> };
let service: Service;
let browser: Browser;

async function api(path: string, body?: unknown) {
  const res = await fetch(`${service.base}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${service.apiKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe.skipIf(!haveBrowser)("the embeddable widget in a real browser", () => {
  beforeAll(async () => {
    service = await startLocalService({
      port: PORT,
      vars: { WIDGET_ORIGINS: `http://127.0.0.1:${PORT}`, PUBLIC_URL: `http://127.0.0.1:${PORT}` },
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
  });

  it("shows the same numbers as the API, copies the link, and looks right", async () => {
    const { body: created } = await api("/api/codes", { userId: "browser-alex", name: "Alex", displayName: "Alex P." });
    const code = created.code as string;
    for (let i = 0; i < 4; i++) {
      await fetch(`${service.base}/r/${code}`, {
        redirect: "manual",
        headers: { "user-agent": `Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36 visitor-${i}` },
      });
    }
    for (let i = 0; i < 2; i++) await api("/api/attributions", { refereeId: `browser-friend-${i}`, code });
    // The chart reads daily aggregates, which the click flush (about a second) fills.
    for (let i = 0; i < 40; i++) {
      const { body } = await api(`/api/stats`);
      if ((body.clicks as number) >= 4) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const { body: tokenBody } = await api("/api/widget-tokens", { userId: "browser-alex" });
    const token = tokenBody.token as string;
    const me = (await (
      await fetch(`${service.base}/widgets/v1/me`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as {
      shareUrl: string;
      counters: Record<string, number>;
    };

    const context = await browser.newContext({ viewport: { width: 820, height: 1200 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: service.base });
    const page = await context.newPage();
    const response = await page.goto(`${service.base}/widgets/v1/embed?token=${token}`);
    expect(response?.status()).toBe(200);

    for (const stat of ["clicks", "signups", "conversions"]) {
      expect(await page.locator(`[data-stat="${stat}"]`).textContent()).toBe(String(me.counters[stat]));
    }
    expect(me.counters.clicks).toBe(4);
    expect(me.counters.signups).toBe(2);
    expect(await page.locator("[data-testid=share-link]").inputValue()).toBe(me.shareUrl);
    expect(await page.locator("[data-testid=chart] rect").count()).toBe(30);
    expect(await page.locator("[data-testid=rewards] tbody tr").count()).toBeGreaterThanOrEqual(2);

    // Keyboard only: tab to the copy button and press Enter.
    await page.locator("[data-testid=share-link]").focus();
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("copy");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#copy-status").textContent()).toContain("copied");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(me.shareUrl);

    // The next button copies the share message: the default text, with the link appended.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("copy-message");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#copy-status").textContent()).toContain("Message copied");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(
      `Join me on this product: use my link to get a welcome bonus. ${me.shareUrl}`,
    );

    await expectAccessible(page, "widget card");
    mkdirSync("test-artifacts", { recursive: true });
    await page.screenshot({ path: "test-artifacts/widget-embed.png", fullPage: true });
    if (process.env.UPDATE_SCREENSHOT) await page.screenshot({ path: "docs/widget-embed.png", fullPage: true });
    await context.close();
  });

  it("renders the chart's labels at 11 px or more on a 375 px phone", async () => {
    const { body: tokenBody } = await api("/api/widget-tokens", { userId: "browser-alex" });
    const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${service.base}/widgets/v1/embed?token=${tokenBody.token as string}`);
    const labels = page.locator("[data-testid=chart-axis] span");
    expect(await labels.count()).toBe(3);
    for (const size of await labels.evaluateAll((spans) => spans.map((s) => getComputedStyle(s).fontSize))) {
      expect(Number.parseFloat(size)).toBeGreaterThanOrEqual(11);
    }
    await context.close();
  });

  it("shows a friendly page for an expired or bad token", async () => {
    const page = await browser.newPage();
    const response = await page.goto(`${service.base}/widgets/v1/embed?token=not-a-token`);
    expect(response?.status()).toBe(401);
    expect(await page.locator("h1").textContent()).toBe("This referral card cannot be shown");
    await page.close();
  });
});
