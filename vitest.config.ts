import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { copyDocsAssets } from "./scripts/docs-assets.mjs";
import { testBindings } from "./test/bindings.ts";

export default defineConfig(async () => {
  // wrangler.toml's static assets (the API reference's bundle): wrangler builds them, the tests do not run wrangler.
  copyDocsAssets();
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: { ...testBindings, TEST_MIGRATIONS: migrations },
          // Limiters with a tiny budget, one per test that swaps one in to reach a limit quickly.
          ratelimits: Object.fromEntries(
            ["API_LIMITER", "ATTRIBUTION_LIMITER", "WIDGET_LIMITER", "ADMIN_LOGIN_LIMITER"].map((name, i) => [
              `TIGHT_${name}`,
              { namespace_id: String(9001 + i), simple: { limit: 3, period: 60 } },
            ]),
          ),
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup.ts"],
      include: ["test/**/*.test.ts"],
      testTimeout: 30_000,
    },
  };
});
