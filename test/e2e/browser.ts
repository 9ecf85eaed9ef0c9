import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/** Debian's Chromium: .ci/run installs it with apt-get; nothing downloads a browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** Whether the browser tests can run here; in CI its absence is an error, not a skip. */
export const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs it with apt-get`);

/** Headless Chromium as every browser test drives it: no sandbox, no GPU, no traffic of its own. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
}
