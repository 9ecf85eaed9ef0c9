import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { api, attribute, call, createCode, widgetToken } from "../helpers";

type Operation = {
  operationId?: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string }[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
};
type Doc = { paths: Record<string, Record<string, Operation>> };

async function served(): Promise<Doc> {
  return (await (await call("/openapi.json")).json()) as Doc;
}

function operations(doc: Doc) {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
  );
}

/** A path parameter that is not text: not UTF-8 once decoded. */
const NOT_TEXT = "%ED%A0%80";

describe("the OpenAPI document", () => {
  it("names every operation with a unique operationId and says which need no credential", async () => {
    const all = operations(await served());
    expect(all.length).toBeGreaterThanOrEqual(20);
    const ids = all.map(({ operation }) => operation.operationId);
    expect(ids.filter((id) => typeof id !== "string" || !/^[a-z][A-Za-z0-9]+$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(all.filter(({ operation }) => !Array.isArray(operation.security)).map((o) => o.path)).toEqual([]);
    const publicOnes = all
      .filter(({ operation }) => operation.security?.length === 0)
      .map((o) => `${o.method} ${o.path}`);
    expect(publicOnes.sort()).toEqual([
      "get /docs",
      "get /health",
      "get /openapi.json",
      "get /r/{code}",
      "get /widgets/v1/embed",
      "post /webhooks/stripe",
      "post /widgets/v1/embed/rewards/{id}/choose",
    ]);
  });

  it("declares every status its operations answer to malformed, unauthenticated and refused requests", async () => {
    const code = await createCode("openapi-owner", "open");
    await attribute({ refereeId: "openapi-referee", code });
    const rewardsPage = (await (await api("/api/users/openapi-referee/rewards")).json()) as {
      rewards: { id: string }[];
    };
    const valid: Record<string, string> = {
      code,
      userId: "openapi-owner",
      id: rewardsPage.rewards[0]?.id ?? "",
    };
    const widget = await widgetToken("openapi-owner");
    const doc = await served();
    const undeclared: string[] = [];
    let probes = 0;

    for (const { path, method, operation } of operations(doc)) {
      const scheme = Object.keys(operation.security?.[0] ?? {})[0];
      const credential =
        scheme === "ApiKey" ? "Bearer test-api-key-0123456789" : scheme ? `Bearer ${widget}` : undefined;
      const fill = (values: Record<string, string>) =>
        path.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? "x");
      const hasBody = method !== "get";
      const attempts: { why: string; url: string; init: RequestInit; bindings?: Env }[] = [];
      const request = (why: string, url: string, init: RequestInit = {}, bindings?: Env) =>
        attempts.push({ why, url, init: { method: method.toUpperCase(), ...init }, bindings });
      const authed = (extra: Record<string, string> = {}) => ({
        ...(credential ? { authorization: credential } : {}),
        ...extra,
      });
      const json = hasBody
        ? { headers: authed({ "content-type": "application/json" }), body: "{}" }
        : { headers: authed() };

      request("as documented, an empty body", fill(valid), json);
      if (path.includes("{")) {
        request(
          "a path parameter that is not text",
          fill(Object.fromEntries(Object.keys(valid).map((k) => [k, NOT_TEXT]))),
          json,
        );
        request(
          "a path parameter over its length",
          fill(Object.fromEntries(Object.keys(valid).map((k) => [k, "A".repeat(300)]))),
          json,
        );
      }
      request("an unknown query parameter", `${fill(valid)}?unknown_parameter=1`, json);
      request("a query parameter that is not text", `${fill(valid)}?token=${NOT_TEXT}&limit=${NOT_TEXT}`, json);
      if (credential) request("no credential", fill(valid), { ...json, headers: {} });
      if (hasBody) {
        request("a body that is not JSON", fill(valid), {
          headers: authed({ "content-type": "text/plain" }),
          body: "hello",
        });
        request("malformed JSON", fill(valid), { headers: authed({ "content-type": "application/json" }), body: "{" });
        request("a body over the limit", fill(valid), {
          headers: authed({ "content-type": "application/json" }),
          body: JSON.stringify({ padding: "x".repeat(600 * 1024) }),
        });
      }
      request("a deployment without its secrets", fill(valid), json, { ...env, API_KEYS: "" } as Env);

      for (const attempt of attempts) {
        // A misconfigured deployment logs the setting it lacks on every request: expected here.
        const quiet = attempt.bindings ? vi.spyOn(console, "error").mockImplementation(() => {}) : undefined;
        const res = await call(attempt.url, attempt.init, attempt.bindings);
        quiet?.mockRestore();
        probes++;
        if (!(String(res.status) in operation.responses))
          undeclared.push(`${method} ${path}: ${attempt.why} → ${res.status} ${(await res.text()).slice(0, 120)}`);
      }
    }
    console.log(`openapi statuses: ${probes} probes over ${operations(doc).length} operations`);
    expect(undeclared).toEqual([]);
  });
});
