import { describe, expect, it } from "vitest";
import type { ZodType } from "zod";
import assetHeaders from "../../dist/assets/_headers?raw";
import { app } from "../../src/app";
import { SCALAR_BUNDLE } from "../../src/docs/reference";
import { call } from "../helpers";

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
        responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
      }
    >
  >;
  components: { schemas: Record<string, { example?: unknown }>; securitySchemes: Record<string, unknown> };
};

const toOpenApiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}");

describe("API docs", () => {
  it("publishes every registered route in an OpenAPI 3.1 document", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Doc;
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(["ApiKey", "WidgetToken"]);

    const registered = app.routes
      // The operator's console is HTML pages, not API: docs/console.md describes it.
      .filter((route) => route.method !== "ALL" && route.path !== "/*" && !route.path.startsWith("/admin"))
      .map((route) => `${route.method.toLowerCase()} ${toOpenApiPath(route.path)}`);
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m} ${path}`),
    );
    expect(registered.length).toBeGreaterThanOrEqual(18);
    expect([...new Set(registered)].sort()).toEqual([...new Set(documented)].sort());
  });

  it("gives examples that validate against the route's own schemas", async () => {
    const doc = (await (await call("/openapi.json")).json()) as Doc;
    let checked = 0;
    for (const definition of app.openAPIRegistry.definitions) {
      if (definition.type !== "route") continue;
      const route = definition.route;
      const pathDoc = doc.paths[route.path]?.[route.method];
      const checks: [ZodType | undefined, { $ref?: string } | undefined][] = [
        [
          (route.request?.body?.content as Record<string, { schema: ZodType }> | undefined)?.["application/json"]
            ?.schema,
          pathDoc?.requestBody?.content["application/json"]?.schema,
        ],
        ...Object.entries(route.responses).map(
          ([status, response]): [ZodType | undefined, { $ref?: string } | undefined] => [
            (response as { content?: Record<string, { schema: ZodType }> }).content?.["application/json"]?.schema,
            pathDoc?.responses[status]?.content?.["application/json"]?.schema,
          ],
        ),
      ];
      for (const [schema, documented] of checks) {
        const name = documented?.$ref?.split("/").pop();
        const example = name ? doc.components.schemas[name]?.example : undefined;
        if (!schema || example === undefined) continue;
        const result = schema.safeParse(example);
        expect(result.success, `${route.method} ${route.path} ${name}: ${JSON.stringify(result.error?.issues)}`).toBe(
          true,
        );
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it("serves Scalar's reference, its script from this Worker under a fresh nonce", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=UTF-8");
    const html = await res.text();
    const policy = directives(res.headers.get("content-security-policy"));
    const nonce = /^'nonce-([0-9a-f]{32})'$/.exec(policy["script-src"] ?? "")?.[1];
    expect(nonce).toBeDefined();
    expect(policy).toEqual({
      "default-src": "'none'",
      "script-src": `'nonce-${nonce}'`,
      "style-src": "'unsafe-inline'",
      "connect-src": "'self'",
      "img-src": "'self'",
      "base-uri": "'none'",
      "form-action": "'none'",
      "frame-ancestors": "'none'",
    });
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");

    const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((match) => match[1] ?? "");
    expect(scripts).toHaveLength(2);
    for (const attributes of scripts) expect(attributes).toContain(`nonce="${nonce}"`);
    expect(scripts[0]).toContain(`src="${SCALAR_BUNDLE}"`);
    expect(html).toContain('"url": "/openapi.json"');
    // Scalar's defaults that would reach its own servers are off.
    expect(html).toContain('"withDefaultFonts": false');
    expect(html).toContain('"telemetry": false');

    const again = directives((await call("/docs")).headers.get("content-security-policy"))["script-src"];
    expect(again).not.toBe(policy["script-src"]);
  });

  it("refers to nothing on another origin", async () => {
    const html = await (await call("/docs")).text();
    const references = [...html.matchAll(/\b(?:src|href|action)="([^"]*)"/g)].map((match) => match[1] ?? "");
    expect(references.length).toBeGreaterThanOrEqual(2);
    expect(references.filter((url) => !url.startsWith("/") || url.startsWith("//"))).toEqual([]);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it("keeps the plain reference for a browser without JavaScript", async () => {
    const html = await (await call("/docs")).text();
    expect(html).toMatch(/<html lang="en"/);
    const fallback = /<noscript>([\s\S]*)<\/noscript>/.exec(html)?.[1] ?? "";
    for (const path of ["/r/{code}", "/api/attributions", "/webhooks/stripe", "/widgets/v1/me", "/api/stats"]) {
      expect(fallback).toContain(`<code>${path}</code>`);
    }
  });

  it("has the bundle it names among the Worker's static assets, served with a year's cache", () => {
    const bundles = Object.keys(import.meta.glob("../../dist/assets/docs/assets/*.js"));
    expect(bundles.map((file) => file.replace("../../dist/assets", ""))).toEqual([SCALAR_BUNDLE]);
    expect(assetHeaders).toContain("/docs/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n");
    expect(assetHeaders).toContain("X-Content-Type-Options: nosniff");
  });
});

/** A Content-Security-Policy header as `{ directive: sources }`. */
function directives(header: string | null): Record<string, string> {
  return Object.fromEntries(
    (header ?? "").split(";").map((part) => {
      const [name = "", ...sources] = part.trim().split(/\s+/);
      return [name, sources.join(" ")];
    }),
  );
}
