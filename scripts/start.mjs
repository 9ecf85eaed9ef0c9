// `npm start`: local secrets, local D1 migrations, `wrangler dev` on 127.0.0.1:8787,
// the example host app (its signup page) on 127.0.0.1:8790, then an idempotent
// demo code, printed with the local API key. Tools' output is held back until
// the demo block is out (and shown in full if something fails), so the first
// screen is the one that matters.
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";

const PORT = Number(process.env.PORT ?? 8787);
const BASE = `http://127.0.0.1:${PORT}`;
const HOST_PORT = Number(process.env.HOST_APP_PORT ?? 8790);
const HOST_APP = `http://127.0.0.1:${HOST_PORT}`;
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" };

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("Created .dev.vars from .dev.vars.example (local secrets).");
}

// A .dev.vars made before the console existed gets the example's admin key.
if (!/^ADMIN_KEYS=/m.test(readFileSync(".dev.vars", "utf8"))) {
  const line = readFileSync(".dev.vars.example", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith("ADMIN_KEYS="));
  if (line) {
    appendFileSync(".dev.vars", `\n${line}\n`);
    console.log("Added a local ADMIN_KEYS to .dev.vars (the operator's console).");
  }
}

const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], { encoding: "utf8", env });
if (migrate.status !== 0) {
  console.error(`Applying the local D1 migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);
  process.exit(migrate.status ?? 1);
}
console.log("Local D1 migrations applied.");

// Locally, share links lead to the example host app's signup page, and its dashboard may frame the card.
const devVars = readFileSync(".dev.vars", "utf8");
const localVars = [
  ...(/^SIGNUP_URL=/m.test(devVars) ? [] : ["--var", `SIGNUP_URL:${HOST_APP}/`]),
  ...(/^WIDGET_ORIGINS=/m.test(devVars) ? [] : ["--var", `WIDGET_ORIGINS:${BASE},${HOST_APP}`]),
];

// Share links are built on PUBLIC_URL alone; a .dev.vars from before it was required gets this machine.
const publicUrl = /^PUBLIC_URL=/m.test(readFileSync(".dev.vars", "utf8")) ? [] : ["--var", `PUBLIC_URL:${BASE}`];
const dev = spawn(
  "wrangler",
  [
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(PORT),
    "--show-interactive-dev-session=false",
    ...(process.env.INSPECTOR_PORT ? ["--inspector-port", process.env.INSPECTOR_PORT] : []),
    ...publicUrl,
    ...localVars,
  ],
  { stdio: ["ignore", "pipe", "pipe"], env },
);

/** Output held back until the demo block is printed; then streamed as it comes. */
let held = /** @type {string[] | null} */ ([]);
for (const stream of [dev.stdout, dev.stderr])
  stream.on("data", (chunk) => (held ? held.push(String(chunk)) : process.stdout.write(chunk)));
function release() {
  const lines = held ?? [];
  held = null;
  return lines.join("");
}

/** @type {import("node:child_process").ChildProcess | undefined} */
let hostApp;
for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM"]))
  process.on(signal, () => {
    hostApp?.kill(signal);
    dev.kill(signal);
  });
dev.on("exit", (code) => {
  if (held) process.stderr.write(release());
  hostApp?.kill("SIGTERM");
  process.exit(code ?? 0);
});

/** The example host app (examples/host-app), on the built client package. */
function startHostApp(apiKey) {
  if (!existsSync("dist/client/index.js")) {
    const built = spawnSync("node", ["scripts/build-client.mjs"], { encoding: "utf8" });
    if (built.status !== 0) throw new Error(`building the client package failed:\n${built.stderr}`);
  }
  const secret = localKey("STRIPE_WEBHOOK_SECRETS");
  return spawn("node", ["examples/host-app/server.mjs"], {
    // Its warnings (a refused attribution) are worth seeing; its start-up line is in the demo block.
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      ...process.env,
      PORT: String(HOST_PORT),
      REFERRAL_URL: BASE,
      REFERRAL_API_KEY: apiKey,
      ...(secret ? { STRIPE_WEBHOOK_SECRET: secret } : {}),
    },
  });
}

/** The first key of a comma-separated setting in .dev.vars. */
function localKey(name = "API_KEYS") {
  const line = readFileSync(".dev.vars", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith(`${name}=`));
  return line
    ?.slice(name.length + 1)
    .replace(/^"|"$/g, "")
    .split(",")[0]
    ?.trim();
}

async function waitForService(url = `${BASE}/health`) {
  for (let attempt = 0; attempt < 240; attempt++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${url} did not answer within 2 minutes`);
}

try {
  await waitForService();
  const apiKey = localKey();
  const adminKey = localKey("ADMIN_KEYS");
  const res = await fetch(`${BASE}/api/codes`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ userId: "demo-user", name: "demo", displayName: "Demo User" }),
  });
  if (!res.ok) throw new Error(`seeding the demo code failed: ${res.status} ${await res.text()}`);
  const demo = await res.json();
  const link = `${BASE}/r/${demo.code}`;
  const widget = await fetch(`${BASE}/api/widget-tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ userId: "demo-user" }),
  });
  const { token } = widget.ok ? await widget.json() : { token: undefined };
  if (apiKey) {
    hostApp = startHostApp(apiKey);
    await waitForService(`${HOST_APP}/`);
  }
  release(); // wrangler's start-up banner: not worth a screen before the demo block
  console.log(`
────────────────────────────────────────────────────────────────
 Referral service running at ${BASE}
 Demo user:   demo-user (${res.status === 201 ? "created" : "already there"})
 Share link:  ${link}   (leads to the example host app's signup page)
 Host app:    ${HOST_APP}/ (examples/host-app: signup, dashboard with the card, a "Pay" button)
 API key:     ${apiKey}
 Widget:      ${token ? `${BASE}/widgets/v1/embed?token=${token}` : "(no widget token: check WIDGET_KEYS in .dev.vars)"}
 API docs:    ${BASE}/docs
 Console:     ${BASE}/admin (admin key: ${adminKey ?? "set ADMIN_KEYS in .dev.vars"})

 Try it:
   curl -i -A "Mozilla/5.0 (Macintosh) Chrome/131.0 Safari/537.36" ${link}
   curl -H "Authorization: Bearer ${apiKey}" ${BASE}/api/codes/${demo.code}
────────────────────────────────────────────────────────────────
`);
} catch (error) {
  process.stderr.write(release());
  console.error(String(error));
  hostApp?.kill("SIGTERM");
  dev.kill("SIGTERM");
  process.exit(1);
}
