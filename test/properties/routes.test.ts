import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { API_KEY, attribute, call, createCode, widgetToken } from "../helpers";
import { d1Snapshot } from "./snapshot";

/**
 * Every route, fed random and hostile input: never a 5xx, always the error
 * envelope on a 4xx, and D1 exactly as it was after every refused request.
 */

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"] as const;
const RUNS_PER_ROUTE = 50;

const hostile = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    "DEVO-ALEX1234",
    "devo-alex1234",
    "DEVO-1' OR '1'='1",
    "'; DROP TABLE referrals; --",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "\u0000\u0007\u001b[31m",
    "😀".repeat(50),
    "null",
    "undefined",
    "__proto__",
    "constructor",
    " ",
  ),
  fc.string({ minLength: 3_000, maxLength: 12_000 }),
);

const anyValue = fc.oneof(hostile, fc.anything(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));

const FIELDS = ["userId", "name", "displayName", "email", "refereeId", "token", "code", "referrerEmail", "limit"];

const body = fc.oneof(
  fc.json(),
  fc.dictionary(fc.constantFrom(...FIELDS), anyValue).map((object) => JSON.stringify(object)),
  fc.dictionary(fc.constantFrom(...FIELDS), hostile).map((object) => JSON.stringify(object)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    '{"userId": "a", "userId": {"nested": [1, 2]}}',
    '{"refereeId": "x", "code": "DEVO-ALEX1234", "refereeId": 5}',
    '{"userId": ',
    "[]",
    "null",
    '"just a string"',
    `{"userId": "${"a".repeat(20_000)}"}`,
    '{"__proto__": {"admin": true}, "userId": "proto"}',
  ),
);

/** Fills a route's path parameters with hostile values, sometimes left raw. */
function pathFor(template: string) {
  return fc.tuple(fc.array(hostile, { minLength: 3, maxLength: 3 }), fc.boolean()).map(([values, raw]) => {
    let i = 0;
    return template.replace(/:(\w+)/g, () => {
      const value = values[i++ % values.length] ?? "";
      return raw ? value.replace(/[/?#\s]/g, "_") : encodeURIComponent(value);
    });
  });
}

const query = fc
  .dictionary(
    fc.constantFrom("limit", "cursor", "days", "from", "to", "token", "state", "x"),
    fc.oneof(hostile, fc.integer().map(String), fc.constantFrom("-1", "0", "1e309", "NaN", "9999999999999999999")),
  )
  .map((params) =>
    Object.keys(params).length === 0 ? "" : `?${new URLSearchParams(params as Record<string, string>)}`,
  );

describe("every route under hostile input", () => {
  // Hono lists a route once per handler (validators included): one entry per method and path.
  const routes = [
    ...new Map(
      app.routes.filter((route) => route.method !== "ALL").map((route) => [`${route.method} ${route.path}`, route]),
    ).values(),
  ];
  const totals = { requests: 0, fiveHundreds: 0, refusedUnchanged: 0, byStatus: {} as Record<string, number> };

  it("has routes to fuzz", () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
  });

  for (const route of routes) {
    it(`${route.method} ${route.path}: no 5xx, the envelope on 4xx, nothing stored on refusal`, async () => {
      // Some context, so not every request misses: a code, a referral, rewards.
      const code = await createCode(`fuzz-owner-${route.method}-${route.path}`.slice(0, 100), "fuzz");
      await attribute({ refereeId: `fuzz-referee-${route.method}-${route.path}`.slice(0, 100), code });
      const widget = await widgetToken(`fuzz-owner-${route.method}-${route.path}`.slice(0, 100));

      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            { arbitrary: fc.constant(route.method), weight: 4 },
            { arbitrary: fc.constantFrom(...METHODS), weight: 1 },
          ),
          pathFor(route.path),
          query,
          body,
          // Mostly the right credential for the route, so requests get past the door.
          fc.oneof(
            {
              arbitrary: fc.constant(route.path.startsWith("/widgets") ? `Bearer ${widget}` : `Bearer ${API_KEY}`),
              weight: 8,
            },
            {
              arbitrary: fc.constantFrom(`Bearer ${API_KEY}`, `Bearer ${widget}`, "Bearer nonsense", "", "Basic abc"),
              weight: 2,
            },
          ),
          fc.oneof(
            { arbitrary: fc.constant("application/json"), weight: 8 },
            { arbitrary: fc.constantFrom("application/json; charset=utf-8", "text/plain", ""), weight: 2 },
          ),
          async (method, path, search, payload, authorization, contentType) => {
            const hasBody = method !== "GET" && method !== "HEAD";
            const before = await d1Snapshot();
            const res = await call(`${path}${search}`, {
              method,
              headers: {
                ...(authorization ? { authorization } : {}),
                ...(contentType && hasBody ? { "content-type": contentType } : {}),
                "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36",
              },
              body: hasBody ? payload : undefined,
            });
            totals.requests++;
            totals.byStatus[res.status] = (totals.byStatus[res.status] ?? 0) + 1;
            const text = method === "HEAD" ? "" : await res.text();
            if (res.status >= 500) totals.fiveHundreds++;
            expect(res.status, `${method} ${path}${search} → ${res.status} ${text.slice(0, 300)}`).toBeLessThan(500);
            if (res.status >= 400) {
              if (method === "HEAD") {
                // No body to look at.
              } else if (res.headers.get("content-type")?.startsWith("text/html")) {
                // The embeddable card answers people, not programs: a friendly page, never a stack.
                expect(text).toMatch(/<h1>[^<]+<\/h1>/);
                expect(text).not.toMatch(/Error:|\bat \w+ \(/);
              } else {
                const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
                expect(typeof parsed.error?.code, text).toBe("string");
                expect(typeof parsed.error?.message, text).toBe("string");
              }
              expect(await d1Snapshot()).toEqual(before);
              totals.refusedUnchanged++;
            }
          },
        ),
        { numRuns: RUNS_PER_ROUTE },
      );
    });
  }

  it("reports what it tried", () => {
    console.log(`route fuzzing: ${JSON.stringify(totals)}`);
    expect(totals.fiveHundreds).toBe(0);
  });
});
