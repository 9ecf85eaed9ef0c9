import { describe, expect, it } from "vitest";
import { API_KEY, call, type Json, widgetToken } from "../helpers";
import { d1Snapshot } from "../properties/snapshot";

/** A method a known path does not answer: 405, the envelope, and the methods it does answer in Allow. */

interface OpenApiDocument {
  paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** A concrete URL for a documented path template. */
const concrete = (template: string) =>
  template.replace("{code}", "DEVO-ALEX1234").replace("{userId}", "user_123").replace("{id}", crypto.randomUUID());

describe("unsupported methods", () => {
  it("DELETE /api/codes answers 405 with Allow: POST", async () => {
    const res = await call("/api/codes", { method: "DELETE", headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(await res.json()).toEqual({
      error: { code: "method_not_allowed", message: "DELETE is not supported on /api/codes; use POST" },
    });
  });

  it("answer 405 on every documented path, with Allow listing exactly its documented methods, storing nothing", async () => {
    const doc = (await (await call("/openapi.json")).json()) as OpenApiDocument;
    const widget = await widgetToken("methods-widget-user");
    let tried = 0;
    const before = await d1Snapshot();
    for (const [template, operations] of Object.entries(doc.paths)) {
      const documented = Object.keys(operations).map((method) => method.toUpperCase());
      const allow = METHODS.filter((method) => documented.includes(method));
      if (allow.includes("GET")) allow.splice(1, 0, "HEAD");
      const scheme = Object.keys(Object.values(operations)[0]?.security?.[0] ?? {})[0];
      const authorization =
        scheme === "ApiKey" ? `Bearer ${API_KEY}` : scheme === "WidgetToken" ? `Bearer ${widget}` : undefined;
      for (const method of METHODS.filter((candidate) => !documented.includes(candidate))) {
        const res = await call(concrete(template), {
          method,
          headers: authorization ? { authorization } : {},
        });
        const what = `${method} ${template}`;
        expect(res.status, what).toBe(405);
        expect(res.headers.get("allow"), what).toBe(allow.join(", "));
        expect(((await res.json()) as Json).error?.code, what).toBe("method_not_allowed");
        tried++;
      }
    }
    expect(await d1Snapshot()).toEqual(before);
    expect(tried).toBeGreaterThanOrEqual(60);
  });

  it("still answer 404 on a path no route has", async () => {
    const res = await call("/api/nothing-here", { method: "DELETE", headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(404);
    expect(res.headers.get("allow")).toBeNull();
    expect(((await res.json()) as Json).error?.code).toBe("not_found");
  });
});
