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
 * waits until it has passed, so every test runs inside one UTC day. A test may
 * also date what it builds up to `BACKDATE_MARGIN_MS` before its start (a
 * payment a few seconds before the signup), so none starts that soon after
 * midnight either.
 */
const MIDNIGHT_MARGIN_MS = 65_000;
export const BACKDATE_MARGIN_MS = 10_000;
const DAY_MS = 86_400_000;

beforeEach(
  async () => {
    const sinceMidnight = Date.now() % DAY_MS;
    const left = DAY_MS - sinceMidnight;
    if (left < MIDNIGHT_MARGIN_MS) await scheduler.wait(left + BACKDATE_MARGIN_MS + 100);
    else if (sinceMidnight < BACKDATE_MARGIN_MS) await scheduler.wait(BACKDATE_MARGIN_MS - sinceMidnight + 100);
  },
  MIDNIGHT_MARGIN_MS + BACKDATE_MARGIN_MS + 5_000,
);
