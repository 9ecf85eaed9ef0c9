// Starts the Worker in the local Workers runtime (`wrangler dev`) on 127.0.0.1
// with its own throwaway state and secrets, for the browser test and the bench.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const LOCAL_API_KEY = "local-service-api-key-000000";
export const LOCAL_EVENTS_SECRET = "local-service-events-secret-0";
/** Shifts the ports the browser tests listen on, so two checkouts can run them at once. */
export const E2E_PORT_OFFSET = Number(process.env.E2E_PORT_OFFSET ?? 0);

/**
 * @param {{ port: number, vars?: Record<string, string>, config?: string, migrate?: boolean, log?: boolean, output?: (text: string) => void, inspectorPort?: number }} options
 * @returns {Promise<{ base: string, apiKey: string, state: string, processGroup: number, stop: () => Promise<void> }>}
 */
export async function startLocalService({
  port,
  vars = {},
  config,
  migrate = true,
  log = false,
  output,
  inspectorPort = port + 1000,
}) {
  const base = `http://127.0.0.1:${port}`;
  if (await answers(base)) throw new Error(`${base} is already in use: stop whatever listens there first`);
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
      `EVENTS_SECRETS=${LOCAL_EVENTS_SECRET}`,
    ].join("\n"),
  );
  const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" };
  const configArgs = config ? ["--config", config] : [];
  if (migrate) {
    const applied = spawnSync(
      "wrangler",
      ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state, ...configArgs],
      { env, encoding: "utf8" },
    );
    if (applied.status !== 0) throw new Error(`migrations failed:\n${applied.stdout}\n${applied.stderr}`);
  }

  // Share links are built on PUBLIC_URL alone: this service's own address unless the caller says otherwise.
  // wrangler.toml leaves SIGNUP_URL empty (a deploy must set it): a stand-in signup page unless the caller names one.
  const varArgs = Object.entries({ PUBLIC_URL: base, SIGNUP_URL: "https://app.example.com/signup", ...vars }).flatMap(
    ([name, value]) => ["--var", `${name}:${value}`],
  );
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
      String(inspectorPort),
      ...varArgs,
    ],
    { env, stdio: output ? ["ignore", "pipe", "pipe"] : log ? "inherit" : "ignore", detached: true },
  );
  // The Worker's console output, for a caller that reads what it logs (the click log bench).
  if (output) for (const stream of [child.stdout, child.stderr]) stream?.on("data", (chunk) => output(String(chunk)));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const signal = (name) => {
    try {
      if (child.pid) process.kill(-child.pid, name);
    } catch {
      // the group is gone
    }
  };
  const stop = async () => {
    signal("SIGTERM");
    // wrangler does not always honour SIGTERM promptly: the whole group goes after 3 s.
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3_000))]);
    signal("SIGKILL");
    rmSync(state, { recursive: true, force: true });
  };
  for (let attempt = 0; attempt < 240; attempt++) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}`);
    // Any answer means it is up (the port was free before we started).
    if (await answers(base)) return { base, apiKey: LOCAL_API_KEY, state, processGroup: child.pid ?? 0, stop };
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await stop();
  throw new Error(`the service did not answer on ${base}`);
}

async function answers(base) {
  try {
    await fetch(`${base}/health`, { redirect: "manual", signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs SQL against a local service's D1 (its --persist-to state) and returns the rows.
 * @param {string} state
 * @param {string} sql
 * @returns {Record<string, unknown>[]}
 */
export function localD1(state, sql) {
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" };
  // The running service may hold the database's write lock for a moment (a flush): try again.
  for (let attempt = 1; ; attempt++) {
    const out = spawnSync(
      "wrangler",
      ["d1", "execute", "DB", "--local", "--persist-to", state, "--json", "--command", sql],
      { env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
    if (out.status === 0) return JSON.parse(out.stdout).at(-1)?.results ?? [];
    if (attempt >= 5 || !`${out.stdout}${out.stderr}`.includes("SQLITE_BUSY")) {
      throw new Error(`d1 execute failed:\n${out.stdout}\n${out.stderr}`);
    }
    spawnSync("sleep", ["1"]);
  }
}
