/// <reference types="vite/client" />
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import wranglerToml from "../../wrangler.toml?raw";
import { call } from "../helpers";

/** The `[vars]` wrangler.toml ships: what a deploy gets when nobody changed them. */
function shippedVars(): Record<string, string> {
  const section = wranglerToml.split(/^\[vars\]$/m)[1]?.split(/^\[/m)[0] ?? "";
  return Object.fromEntries(
    [...section.matchAll(/^([A-Z_]+)\s*=\s*"(.*)"\s*$/gm)].map((match) => [match[1] as string, match[2] as string]),
  );
}

describe("GET /health", () => {
  it("answers ok when the configuration parses", async () => {
    const res = await call("/health");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("fails loudly, naming the setting, for a deploy that kept wrangler.toml's placeholders", async () => {
    const vars = shippedVars();
    expect(vars).toMatchObject({ SIGNUP_URL: "", PUBLIC_URL: "", WIDGET_ORIGINS: "" });
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await call("/health", {}, { ...env, ...vars } as Env);
    logged.mockRestore();

    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("misconfigured");
    expect(body.error.message).toMatch(/SIGNUP_URL/);
  });
});
