// Starts the Worker in the local Workers runtime (`wrangler dev`) on 127.0.0.1
// with its own throwaway state and secrets, for the browser test and the bench.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const LOCAL_API_KEY = "local-service-api-key-000000";

/**
 * @param {{ port: number, vars?: Record<string, string>, config?: string, log?: boolean }} options
 * @returns {Promise<{ base: string, apiKey: string, state: string, stop: () => Promise<void> }>}
 */
export async function startLocalService({ port, vars = {}, config, log = false }) {
  const state = mkdtempSync(join(tmpdir(), "referral-edge-"));
  const envFile = join(state, "secrets.env");
  writeFileSync(
    envFile,
    [
      `API_KEYS=${LOCAL_API_KEY}`,
      "ATTRIBUTION_KEYS=k1:local-service-attribution-secret",
      "VISITOR_SALT=local-service-visitor-salt-0000",
      "WIDGET_KEYS=w1:local-service-widget-secret-000",
      "STRIPE_WEBHOOK_SECRETS=whsec_local_service_secret_0000",
    ].join("\n"),
  );
  const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" };
  const configArgs = config ? ["--config", config] : [];
  const migrate = spawnSync(
    "wrangler",
    ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state, ...configArgs],
    { env, encoding: "utf8" },
  );
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);

  const varArgs = Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]);
  const child = spawn(
    "wrangler",
    [
      "dev",
      ...configArgs,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      state,
      "--env-file",
      envFile,
      "--show-interactive-dev-session=false",
      "--inspector-port",
      String(port + 1000),
      ...varArgs,
    ],
    { env, stdio: log ? "inherit" : "ignore", detached: true },
  );
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    rmSync(state, { recursive: true, force: true });
  };
  for (let attempt = 0; attempt < 240; attempt++) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/health`)).ok) return { base, apiKey: LOCAL_API_KEY, state, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await stop();
  throw new Error(`the service did not answer on ${base}`);
}
