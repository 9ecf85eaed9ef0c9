import { Scalar } from "@scalar/hono-api-reference";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { StaticReference } from "./static-reference";

/**
 * The Scalar bundle the Worker serves from its static assets: scripts/docs-assets.mjs copies it
 * there from @scalar/api-reference and refuses to when this is not the installed version.
 */
export const SCALAR_VERSION = "1.76.4";
/** Versioned, so a browser may keep it for a year: an upgrade is a new URL. */
export const SCALAR_BUNDLE = `/docs/assets/scalar-${SCALAR_VERSION}.js`;

/**
 * Scripts only by this response's nonce (the bundle's `<script src>` and the inline call that
 * starts it), no eval, requests only to this origin (the OpenAPI document, and the calls of the
 * "Test Request" panel), nothing from anywhere else. Styles are the exception Scalar documents:
 * the bundle puts the nonce on its main stylesheet only, and inserts others without it (its
 * theme, its toasts, the CodeMirror editors of the request panel) along with `style="…"`
 * attributes, so inline styles are allowed; with images only from this origin and no fonts at all, a style
 * cannot fetch anything from elsewhere.
 */
function docsPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * /docs: Scalar's page (its Hono middleware), loading the bundle from this Worker, with the plain
 * reference in `<noscript>` for a browser without JavaScript.
 */
export async function docsPage(c: Context<AppEnv>, document: Record<string, unknown>): Promise<Response> {
  const nonce = crypto.randomUUID().replace(/-/g, "");
  const scalar = Scalar<AppEnv>({
    pageTitle: `${(document.info as { title: string }).title} API`,
    url: "/openapi.json",
    cdn: SCALAR_BUNDLE,
    nonce,
    // Scalar's defaults that reach other origins: its hosted fonts, telemetry, the AI agent, MCP.
    withDefaultFonts: false,
    telemetry: false,
    agent: { disabled: true },
    mcp: { disabled: true },
    showDeveloperTools: "never",
  });
  const page = await (await scalar(c, async () => {}))?.text();
  if (page === undefined) throw new Error("Scalar's middleware gave no page");
  const fallback = String(StaticReference({ document }));
  const end = page.lastIndexOf("</body>");
  if (end < 0) throw new Error("Scalar's page has no </body> to put the plain reference before");
  c.header("Content-Security-Policy", docsPolicy(nonce));
  c.header("Referrer-Policy", "no-referrer");
  // Scalar's page names no language; screen readers and translators need it.
  const html = `${page.slice(0, end)}${fallback}\n  ${page.slice(end)}`.replace(
    /<html(?![^>]*\blang=)/,
    '<html lang="en"',
  );
  return c.html(html, 200);
}
