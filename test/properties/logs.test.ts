import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { API_KEY, call, type Json, widgetToken } from "../helpers";

/**
 * What the service logs when D1 fails under a request: the statement and the
 * error, never the values bound to it (user ids, codes), nor the request path
 * that carries them.
 */

const USER = "log-user-7f3a9c2e";

/** A D1 binding whose statements all fail when run, as an outage does. */
function failingD1(): D1Database {
  const failing = (statement: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(statement, {
      get(target, key) {
        if (key === "bind") return (...values: unknown[]) => failing(target.bind(...values));
        if (key === "first" || key === "all" || key === "run" || key === "raw") {
          return async () => {
            throw new Error("D1_ERROR: Network connection lost (injected)");
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  return new Proxy(env.DB, {
    get(target, key) {
      if (key === "prepare") return (query: string) => failing(target.prepare(query));
      if (key === "batch") {
        return async () => {
          throw new Error("D1_ERROR: Network connection lost (injected)");
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("logs of failures", () => {
  it("carry the failed statement and the error, never the user id bound to it or in the path", async () => {
    const token = await widgetToken(USER);
    const logged: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logged.push(
          args
            .map((arg) => (arg instanceof Error ? `${arg.message} ${arg.stack} ${String(arg.cause)}` : String(arg)))
            .join(" "),
        );
      });
    }
    const broken = { ...env, DB: failingD1() } as Env;
    const auth = { authorization: `Bearer ${API_KEY}` };
    const answers = [
      await call(
        "/api/codes",
        {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ userId: USER }),
        },
        broken,
      ),
      await call(`/api/users/${USER}/export`, { headers: auth }, broken),
      await call(`/api/users/${USER}/entitlements`, { headers: auth }, broken),
      await call("/widgets/v1/me", { headers: { authorization: `Bearer ${token}` } }, broken),
    ];
    for (const res of answers) {
      expect(res.status).toBe(500);
      expect(((await res.json()) as Json).error?.code).toBe("internal_error");
    }

    expect(logged.filter((line) => line.startsWith("unhandled error on "))).toHaveLength(4);
    expect(logged.some((line) => line.includes("unhandled error on GET /api/users/:userId/export"))).toBe(true);
    expect(logged.some((line) => /Failed query: select/i.test(line))).toBe(true);
    expect(logged.some((line) => line.includes("Network connection lost (injected)"))).toBe(true);
    // The widget visitor is recorded off the response path: its failure is logged too, just as bare.
    expect(logged.some((line) => line.startsWith("recording a widget visitor failed"))).toBe(true);
    expect(logged.join("\n")).not.toContain(USER);
    expect(logged.join("\n")).not.toMatch(/params:/);
  });
});
