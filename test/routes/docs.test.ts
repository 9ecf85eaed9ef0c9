import { describe, expect, it } from "vitest";
import type { ZodType } from "zod";
import { app } from "../../src/app";
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

  it("serves a readable docs page", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    const html = await res.text();
    for (const path of ["/r/{code}", "/api/attributions", "/webhooks/stripe", "/widgets/v1/me", "/api/stats"]) {
      expect(html).toContain(`<code>${path}</code>`);
    }
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  });
});
