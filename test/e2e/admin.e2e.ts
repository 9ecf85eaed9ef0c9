import { copyFileSync, mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PORT_OFFSET, startLocalService } from "../../scripts/local-service.mjs";
import { expectAccessible } from "./accessibility.ts";
import { haveBrowser, launchChromium } from "./browser.ts";

const PORT = 8796 + E2E_PORT_OFFSET;
const ADMIN_KEY = "e2e-admin-key-0123456789";

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

async function shoot(page: Page, name: string) {
  await expectAccessible(page, name);
  mkdirSync("test-artifacts", { recursive: true });
  for (const width of [1440, 375]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: `test-artifacts/admin-${name}-${width}.png`, fullPage: true });
    // Readable at 375 px: nothing wider than the screen but the scrollable tables.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${name} at ${width}px`).toBeLessThanOrEqual(0);
  }
  await page.setViewportSize({ width: 1440, height: 900 });
}

describe.skipIf(!haveBrowser)("the operator's console in a real browser", () => {
  beforeAll(async () => {
    service = await startLocalService({
      port: PORT,
      vars: { ADMIN_KEYS: ADMIN_KEY, PUBLIC_URL: `http://127.0.0.1:${PORT}` },
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
  });

  it("signs in, reads the overview, finds a referrer, reads a referral's story, and revokes a reward", async () => {
    const { body: created } = await api("/api/codes", {
      userId: "console-alex",
      name: "Alex",
      displayName: "Alex Console",
    });
    const code = created.code as string;
    for (let i = 0; i < 3; i++) {
      await fetch(`${service.base}/r/${code}`, {
        redirect: "manual",
        headers: { "user-agent": `Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36 visitor-${i}` },
      });
    }
    for (let i = 0; i < 2; i++) await api("/api/attributions", { refereeId: `console-friend-${i}`, code });
    // The overview's clicks include unflushed ones; the chart's table reads flushed aggregates (about a second).
    for (let i = 0; i < 40; i++) {
      const { body } = await api("/api/stats");
      if ((body.clicks as number) >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    const first = await page.goto(`${service.base}/admin`);
    expect(first?.url()).toBe(`${service.base}/admin/login`);
    await page.getByLabel("Admin key").fill("wrong-key-wrong-key-000");
    await page.getByRole("button", { name: "Sign in" }).click();
    expect(await page.getByRole("alert").textContent()).toContain("not one of the admin keys");
    await page.getByLabel("Admin key").fill(ADMIN_KEY);
    await page.keyboard.press("Enter");
    await page.waitForURL(`${service.base}/admin`);

    const { body: stats } = await api("/api/stats");
    expect(await page.locator('[data-stat="signups"]').textContent()).toBe(String(stats.signups));
    expect(await page.locator('[data-stat="clicks"]').textContent()).toBe(String(stats.clicks));
    expect(stats.signups).toBe(2);
    expect(await page.locator("[data-testid=chart] rect").count()).toBe(30);
    await shoot(page, "overview");
    if (process.env.UPDATE_SCREENSHOT) copyFileSync("test-artifacts/admin-overview-1440.png", "docs/console.png");

    await page.getByRole("link", { name: "Referrers" }).click();
    await page.getByTestId("search").fill("Alex Con");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name: "console-alex" }).click();
    await page.waitForURL(`${service.base}/admin/referrers/console-alex`);
    expect(await page.getByTestId("code").textContent()).toBe(code);
    await shoot(page, "referrer");

    await page.getByRole("link", { name: "console-friend-0" }).click();
    await page.waitForURL(/\/admin\/referrals\//);
    expect(await page.locator('[data-testid=story] li[data-kind="signup"]').count()).toBe(1);
    expect(await page.locator('[data-testid=story] li[data-kind="ledger"]').count()).toBeGreaterThanOrEqual(1);
    await shoot(page, "referral");
    await page.goBack();

    const row = page.locator("[data-testid=ledger] tbody tr", { hasText: "extra_messages" }).first();
    const rewardId = await row.getAttribute("data-reward");
    await row.getByRole("link", { name: "Revoke" }).click();
    await page.getByLabel("Note").fill("Duplicate account, confirmed by support");
    await page.getByRole("button", { name: "Confirm: revoke" }).click();
    await page.waitForURL(`${service.base}/admin/referrers/console-alex?done=revoke`);
    expect(await page.getByRole("status").textContent()).toContain("revoked");
    expect(await page.locator(`[data-reward="${rewardId}"] .badge`).textContent()).toBe("revoked");
    expect(await page.getByTestId("audit").textContent()).toContain("Duplicate account, confirmed by support");
    const { body: ledger } = await api("/api/users/console-alex/rewards");
    const revoked = (ledger.rewards as { id: string; status: string }[]).find((r) => r.id === rewardId);
    expect(revoked?.status).toBe("revoked");
    await shoot(page, "revoked");
    await context.close();
  });
});
