import { mkdirSync } from "node:fs";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PORT_OFFSET, startLocalService } from "../../scripts/local-service.mjs";
import { haveBrowser, launchChromium } from "./browser.ts";

/** /docs on the running service: Scalar in a real browser under the page's CSP, and the page without JavaScript. */

const PORT = 8797 + E2E_PORT_OFFSET;

/** An operation's summary from the document, which only Scalar's rendering puts in the page's text. */
const SUMMARY = "Liveness: the Worker is up and its configuration parses";

type Violation = { directive: string; blocked: string; source: string };
let service: { base: string; stop: () => Promise<void> };
let browser: Browser;

async function bundlePath(): Promise<string> {
  const html = await (await fetch(`${service.base}/docs`)).text();
  const src = /<script src="([^"]+)"/.exec(html)?.[1];
  if (!src) throw new Error("/docs has no <script src>");
  return src;
}

describe.skipIf(!haveBrowser)("the API reference at /docs", () => {
  beforeAll(async () => {
    service = await startLocalService({ port: PORT });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
  });

  it("gets Scalar's bundle from the service's static assets, as JavaScript cached for a year", async () => {
    const path = await bundlePath();
    expect(path).toMatch(/^\/docs\/assets\/scalar-\d+\.\d+\.\d+\.js$/);
    const res = await fetch(`${service.base}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^(text|application)\/javascript\b/);
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const bytes = (await res.arrayBuffer()).byteLength;
    console.log(`scalar bundle: ${path}, ${bytes} bytes`);
    expect(bytes).toBeGreaterThan(1_000_000);
  });

  it("renders the interactive reference and sends a test request, loading nothing from elsewhere and breaking no rule of its CSP", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const foreign: string[] = [];
    const requested: string[] = [];
    page.on("request", (request) => {
      if (new URL(request.url()).origin !== service.base) foreign.push(request.url());
      else requested.push(new URL(request.url()).pathname);
    });
    const violations: Violation[] = [];
    await page.exposeFunction("reportViolation", (violation: Violation) => violations.push(violation));
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (event) => {
        const report = (window as unknown as { reportViolation: (v: Violation) => void }).reportViolation;
        report({ directive: event.effectiveDirective, blocked: event.blockedURI, source: event.sourceFile });
      });
    });
    const cspErrors: string[] = [];
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) cspErrors.push(message.text());
    });

    const res = await page.goto(`${service.base}/docs`);
    expect(res?.status()).toBe(200);
    await page.getByText(SUMMARY).first().waitFor({ state: "visible", timeout: 30_000 });
    expect(await page.getByText("attributions", { exact: true }).count()).toBeGreaterThan(0);

    // The "Test Request" panel calls the service itself (connect-src 'self') and shows the answer in its editor.
    await page.getByRole("button", { name: "Test Request" }).first().click();
    await page.getByRole("button", { name: "Send" }).first().click();
    await page.getByText("200 OK").first().waitFor({ state: "visible", timeout: 15_000 });
    mkdirSync("test-artifacts", { recursive: true });
    await page.screenshot({ path: "test-artifacts/docs-1440.png" });
    await page.close();

    expect(requested).toEqual(expect.arrayContaining(["/docs", await bundlePath(), "/openapi.json", "/health"]));
    expect(foreign).toEqual([]);
    // The bundle's zod probes once for eval (`Function("")` in a try) and works without it when refused.
    const unexpected = violations.filter(
      (violation) => !(violation.directive === "script-src" && violation.blocked === "eval"),
    );
    expect(unexpected).toEqual([]);
    expect(cspErrors).toEqual([]);
  });

  it("shows the plain reference to a browser without JavaScript, which loads no script", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const requested: string[] = [];
    page.on("request", (request) => requested.push(request.url()));
    await page.goto(`${service.base}/docs`);
    const text = await page.locator("main").textContent();
    for (const path of ["/r/{code}", "/api/attributions", "/webhooks/stripe", "/api/stats"])
      expect(text).toContain(path);
    expect(text).toContain(SUMMARY);
    expect(requested.filter((url) => url.endsWith(".js"))).toEqual([]);
    await context.close();
  });
});
