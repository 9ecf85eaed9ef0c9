import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Page } from "playwright-core";
import { expect } from "vitest";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** What axe-core finds against WCAG 2 A and AA (evaluated over DevTools, which the page's CSP does not govern). */
async function accessibility(page: Page): Promise<{ violations: string[]; passed: string[]; unsure: string[] }> {
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    type Rule = { id: string; nodes: { target: unknown }[] };
    const { axe } = globalThis as unknown as {
      axe: {
        run: (
          context: unknown,
          options: unknown,
        ) => Promise<{ violations: Rule[]; passes: Rule[]; incomplete: Rule[] }>;
      };
    };
    // Charts aside: axe cannot tell the background of SVG text, and each chart has its table.
    const result = await axe.run({ exclude: [["svg"]] }, { runOnly: ["wcag2a", "wcag2aa"] });
    return {
      violations: result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => JSON.stringify(n.target)).join(", ")}`),
      passed: result.passes.map((p) => p.id),
      unsure: result.incomplete.map((v) => `${v.id}: ${v.nodes.map((n) => JSON.stringify(n.target)).join(", ")}`),
    };
  });
}

/** Fails on any WCAG 2 A or AA violation axe-core finds, and on any check it could not decide. */
export async function expectAccessible(page: Page, name: string): Promise<void> {
  const { violations, passed, unsure } = await accessibility(page);
  expect(violations, `${name}: WCAG 2 AA`).toEqual([]);
  expect(unsure, `${name}: WCAG 2 AA`).toEqual([]);
  expect(passed).toEqual(expect.arrayContaining(["color-contrast", "document-title"]));
}
