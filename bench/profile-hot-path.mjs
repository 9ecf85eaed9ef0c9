// `node bench/profile-hot-path.mjs`: what the share link's pure steps cost in
// V8 (the engine workerd runs), one step at a time. The Worker's own code is
// bundled from src/ with esbuild, so this times the code that ships. Wall
// time per call over many calls, after a warm-up: the figures are CPU time of
// one core, on whatever else the machine is doing (run it on a quiet machine).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";

const dir = mkdtempSync(join(tmpdir(), "referral-edge-profile-"));
const entry = join(dir, "entry.ts");
const out = join(dir, "steps.mjs");
const { writeFileSync } = await import("node:fs");
const src = join(process.cwd(), "src");
writeFileSync(
  entry,
  `export { signAttributionToken, verifyAttributionToken } from ${JSON.stringify(`${src}/domain/attribution-token.ts`)};
export { agentFamily, clientKey, isAutomated, referrerHost, shardFor, visitorHash } from ${JSON.stringify(`${src}/domain/visitor.ts`)};
export { parseCode } from ${JSON.stringify(`${src}/domain/codes.ts`)};`,
);
await build({
  entryPoints: [entry],
  bundle: true,
  format: "esm",
  platform: "neutral",
  outfile: out,
  logLevel: "error",
});
const steps = await import(out);
rmSync(dir, { recursive: true, force: true });

const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
const key = { kid: "k1", secret: "profile-attribution-secret-0000" };
const salt = "profile-visitor-salt-000000000";
const SHARE_LINK = /^\/r\/([A-Za-z0-9]{1,12}-[A-Za-z0-9]{4,8})$/;
const held = await steps.signAttributionToken(
  { code: "DEVO-REAL0001", clickId: crypto.randomUUID(), issuedAt: Date.now(), visitorHash: "0".repeat(32) },
  key,
);

let n = 0;
/** @type {[string, () => unknown][]} */
const cases = [
  ["match /r/:code (one regex on the path)", () => SHARE_LINK.exec(`/r/DEVO-ALEX${1000 + (n % 9000)}`)],
  ["bot check (isbot + preview agents), a new agent each call", () => steps.isAutomated("GET", `${UA} v/${n}`)],
  ["agent family", () => steps.agentFamily(`${UA} v/${n}`, false)],
  ["visitor hash (SHA-256)", () => steps.visitorHash(salt, Date.now(), `10.0.${n % 250}.1`, UA)],
  ["click id (randomUUID)", () => crypto.randomUUID()],
  [
    "sign the token (JSON, base64url, HMAC-SHA256)",
    () =>
      steps.signAttributionToken(
        { code: "DEVO-ALEX1234", clickId: crypto.randomUUID(), issuedAt: Date.now(), visitorHash: "a".repeat(32) },
        key,
      ),
  ],
  [
    "verify a held cookie (only when the isolate has no word on the code)",
    () => steps.verifyAttributionToken(held, [key], Date.now(), 86_400_000),
  ],
  [
    "Location (URL + ref)",
    () => {
      const url = new URL("https://app.example.com/signup?plan=free");
      url.searchParams.set("ref", "DEVO-ALEX1234");
      return url.href;
    },
  ],
  [
    "response headers + 302",
    () =>
      new Response(null, {
        status: 302,
        headers: new Headers({
          Location: "https://app.example.com/signup?ref=DEVO-ALEX1234",
          "Cache-Control": "no-store",
          "X-Robots-Tag": "noindex",
          "X-Content-Type-Options": "nosniff",
          "Set-Cookie": `ref_token=${held}; Max-Age=5184000; Path=/; HttpOnly; Secure; SameSite=Lax`,
        }),
      }),
  ],
  ["after the answer: client key (SHA-256)", () => steps.clientKey(salt, `10.0.${n % 250}.1`)],
];

const ITERATIONS = Number(process.env.PROFILE_ITERATIONS ?? 20_000);
/** @type {[string, number][]} */
const rows = [];
for (const [name, fn] of cases) {
  for (let i = 0; i < 2_000; i++, n++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < ITERATIONS; i++, n++) await fn();
  rows.push([name, ((performance.now() - t0) * 1000) / ITERATIONS]);
}
console.log("| step | µs per call |");
console.log("|---|---:|");
for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(1)} |`);
const before = rows.filter(([name]) => !name.startsWith("after") && !name.startsWith("verify"));
console.log(
  `| before the answer, a click with no held cookie (sum) | ${before.reduce((s, [, us]) => s + us, 0).toFixed(1)} |`,
);
