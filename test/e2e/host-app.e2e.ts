import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PORT_OFFSET, startLocalService } from "../../scripts/local-service.mjs";
import { haveBrowser, launchChromium } from "./browser.ts";

/**
 * The example host app (examples/host-app) and the service, run together: a
 * person follows a share link, signs up on the host's page, sees their
 * entitlements and the referral card, pays, and the referral converts.
 */

const SERVICE_PORT = 8792 + E2E_PORT_OFFSET;
const HOST_PORT = 8793 + E2E_PORT_OFFSET;
const HOST = `http://127.0.0.1:${HOST_PORT}`;
const WEBHOOK_SECRET = "whsec_local_service_secret_0000"; // what startLocalService configures
// Headless Chromium names itself in its user agent, and the service rightly takes it for a bot. Two
// people on one machine need two browsers, or the service takes them for one (a same_visitor refusal).
const ALEX_BROWSER =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
const SAM_BROWSER =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

let service: { base: string; apiKey: string; stop: () => Promise<void> };
let host: ChildProcess;
let browser: Browser;

async function api(path: string) {
  const res = await fetch(`${service.base}${path}`, { headers: { authorization: `Bearer ${service.apiKey}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function waitFor(url: string) {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer`);
}

describe.skipIf(!haveBrowser)("the example host app, from share link to converted referral", () => {
  beforeAll(async () => {
    // The host app imports the built client package, as a project that installed it would.
    if (!existsSync("dist/client/index.js")) {
      const built = spawnSync("node", ["scripts/build-client.mjs"], { encoding: "utf8" });
      if (built.status !== 0) throw new Error(`building the client failed:\n${built.stderr}`);
    }
    service = await startLocalService({
      port: SERVICE_PORT,
      vars: { SIGNUP_URL: `${HOST}/`, WIDGET_ORIGINS: HOST },
    });
    host = spawn("node", ["examples/host-app/server.mjs"], {
      env: {
        ...process.env,
        PORT: String(HOST_PORT),
        REFERRAL_URL: service.base,
        REFERRAL_API_KEY: service.apiKey,
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
      stdio: "ignore",
    });
    await waitFor(`${HOST}/`);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    host?.kill("SIGTERM");
    await service?.stop();
  });

  it("walks a person from the share link to a converted referral", async () => {
    // Alex already uses the product and has a share link.
    const alex = await browser.newContext({ userAgent: ALEX_BROWSER });
    const alexPage = await alex.newPage();
    await alexPage.goto(`${HOST}/`);
    await alexPage.getByLabel("Name").fill("Alex");
    await alexPage.getByLabel("Email").fill("alex@example.com");
    await alexPage.getByRole("button", { name: "Create my account" }).click();
    await alexPage.waitForURL(`${HOST}/dashboard`);
    const shareUrl = (await alexPage.locator("#share-link").textContent()) ?? "";
    const code = shareUrl.split("/r/")[1] ?? "";
    expect(shareUrl).toBe(`${service.base}/r/${code}`);

    // Sam follows the link in another browser: the service redirects to the host's signup page.
    const sam = await browser.newContext({ userAgent: SAM_BROWSER });
    const samPage = await sam.newPage();
    await samPage.goto(shareUrl);
    expect(samPage.url()).toBe(`${HOST}/?ref=${code}`);
    await expect(samPage.locator("#invited").textContent()).resolves.toContain(code);
    await samPage.getByLabel("Name").fill("Sam");
    await samPage.getByLabel("Email").fill("sam@example.com");
    await samPage.getByRole("button", { name: "Create my account" }).click();
    await samPage.waitForURL(`${HOST}/dashboard`);

    // Sam's welcome rewards, and the referral card in its iframe with a fresh widget token.
    expect(await samPage.locator("#extra-messages").textContent()).toBe("5");
    expect(await samPage.locator("#features").textContent()).toBe("pro");
    const card = samPage.frameLocator("#referral-card");
    await expect(card.locator("#share-link").inputValue()).resolves.toMatch(new RegExp(`^${service.base}/r/`));
    await expect(card.getByAltText("QR code of your share link").isVisible()).resolves.toBe(true);
    // The card posts its height and the host's listener fits the frame to it, instead of the 1500 px it started at.
    const frame = samPage.frame({ url: /\/widgets\/v1\/embed/ });
    const cardHeight = await frame?.evaluate(() => Math.ceil(document.documentElement.getBoundingClientRect().height));
    expect(cardHeight).toBeGreaterThan(600);
    await samPage.waitForFunction(
      (height) => document.getElementById("referral-card")?.style.height === `${height}px`,
      cardHeight,
    );
    expect(await samPage.locator("#referral-card").evaluate((element) => element.getBoundingClientRect().height)).toBe(
      cardHeight,
    );

    const { body: referrerCode } = await api(`/api/codes/${code}`);
    const alexId = referrerCode.userId as string;
    expect(referrerCode.stats).toMatchObject({ clicks: 1, uniqueClicks: 1, signups: 1, conversions: 0 });
    // The host read the cookie the share link set, so the referral carries its click.
    const { body: alexData } = await api(`/api/users/${alexId}/export`);
    expect(alexData.referralsMade).toEqual([expect.objectContaining({ source: "cookie", status: "signed_up" })]);

    // Sam pays: the host app sends what Stripe would, signed.
    await samPage.getByRole("button", { name: "Pay $29" }).click();
    await samPage.waitForURL(`${HOST}/dashboard`);

    const { body: after } = await api(`/api/codes/${code}`);
    expect(after.stats).toMatchObject({ signups: 1, conversions: 1 });
    const { body: rewards } = await api(`/api/users/${alexId}/rewards`);
    expect(rewards.rewards).toContainEqual(
      expect.objectContaining({ type: "account_credit", amount: 1000, status: "active", trigger: "conversion" }),
    );
    // Alex sees the credit on their own dashboard.
    await alexPage.reload();
    expect(await alexPage.locator("#credit").textContent()).toBe("10.00");
    const { body: stats } = await api("/api/stats");
    expect(stats).toMatchObject({ clicks: 1, signups: 1, conversions: 1 });
  });
});
