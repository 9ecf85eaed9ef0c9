import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach } from "vitest";

// Setup files run before each test file; applyD1Migrations skips what is applied.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

/**
 * Visitor hashes, daily aggregates and "today" all turn over at UTC midnight,
 * so a test that straddles it would see one visitor as two, or a click on
 * another day than the one it asks about. No test runs longer than this margin
 * (the longest timeout is 60 s): one that would start closer to midnight
 * waits until it has passed, so every test runs inside one UTC day.
 */
const MIDNIGHT_MARGIN_MS = 65_000;
const DAY_MS = 86_400_000;

beforeEach(async () => {
  const left = DAY_MS - (Date.now() % DAY_MS);
  if (left < MIDNIGHT_MARGIN_MS) await scheduler.wait(left + 100);
}, MIDNIGHT_MARGIN_MS + 5_000);
