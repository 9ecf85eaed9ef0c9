import { defineConfig } from "vitest/config";

/** Tests that drive the running service from outside: a real browser against `wrangler dev`. */
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.ts"],
    environment: "node",
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
