import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PORT_OFFSET, startLocalService } from "../../scripts/local-service.mjs";

/** The document the running service serves, linted by Redocly's CLI with its recommended rules. */

const PORT = 8791 + E2E_PORT_OFFSET;
let service: { base: string; stop: () => Promise<void> };
const dir = mkdtempSync(join(tmpdir(), "referral-edge-openapi-"));

describe("the served OpenAPI document", () => {
  beforeAll(async () => {
    service = await startLocalService({ port: PORT });
  });
  afterAll(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes `redocly lint` with no errors", async () => {
    const res = await fetch(`${service.base}/openapi.json`);
    expect(res.status).toBe(200);
    const file = join(dir, "openapi.json");
    writeFileSync(file, await res.text());

    const lint = spawnSync("redocly", ["lint", file, "--format", "json", "--config", "redocly.yaml"], {
      encoding: "utf8",
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
    });
    const report = JSON.parse(lint.stdout) as {
      totals: { errors: number; warnings: number; ignored: number };
      problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
    };
    const errors = report.problems
      .filter((problem) => problem.severity === "error")
      .map((problem) => `${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer}`);
    console.log(`redocly lint: ${report.totals.errors} errors, ${report.totals.warnings} warnings`);
    for (const problem of report.problems)
      console.log(`  ${problem.severity} ${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer}`);
    expect(errors).toEqual([]);
    expect(lint.status).toBe(0);
  });
});
