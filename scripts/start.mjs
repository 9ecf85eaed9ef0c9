// `npm start`: local secrets, local D1 migrations, `wrangler dev` on 127.0.0.1:8787,
// then an idempotent demo code, printed with the local API key.
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";

const PORT = 8787;
const BASE = `http://127.0.0.1:${PORT}`;
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

const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], { stdio: "inherit", env });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

// Share links are built on PUBLIC_URL alone; a .dev.vars from before it was required gets this machine.
const publicUrl = /^PUBLIC_URL=/m.test(readFileSync(".dev.vars", "utf8")) ? [] : ["--var", `PUBLIC_URL:${BASE}`];
const dev = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(PORT), ...publicUrl], {
  stdio: "inherit",
  env,
});
for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM"])) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));

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

async function waitForService() {
  for (let attempt = 0; attempt < 240; attempt++) {
    try {
      if ((await fetch(`${BASE}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the service did not answer on ${BASE} within 2 minutes`);
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
  console.log(`
────────────────────────────────────────────────────────────────
 Referral service running at ${BASE}
 Demo user:   demo-user (${res.status === 201 ? "created" : "already there"})
 Share link:  ${link}
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
  console.error(String(error));
  dev.kill("SIGTERM");
  process.exit(1);
}
