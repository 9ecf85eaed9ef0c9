// `npm run bench`: the share link against a bare redirect, measured in one run
// on this machine, plus correctness under load, read flatness and bundle size.
// Everything targets 127.0.0.1 and is bounded in time and request count.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { localD1, startLocalService } from "../scripts/local-service.mjs";
import { apiText, runInterleaved, runLoad, runOpenLoopInterleaved } from "./load.mjs";

const { values: flags } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    rounds: { type: "string", default: "8" },
    slice: { type: "string", default: "1" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "16" },
    codes: { type: "string", default: "1000" },
    shards: { type: "string", default: "1" },
    "scale-clicks": { type: "string", default: "1000000" },
    "skip-scale": { type: "boolean", default: false },
    "skip-click-log": { type: "boolean", default: false },
    out: { type: "string", default: "bench/out/results.json" },
  },
});
const load = {
  durationMs: Number(flags.duration) * 1000,
  warmupMs: Number(flags.warmup) * 1000,
  connections: Number(flags.connections),
};
const CODES = Number(flags.codes);
/** The service listens on BENCH_PORT, the baseline on the next port; with BENCH_PORT set, their inspectors on the two after. */
const PORT = Number(process.env.BENCH_PORT ?? 8790);
const INSPECTORS = process.env.BENCH_PORT ? { service: PORT + 2, baseline: PORT + 3 } : {};
/** The low-load row: a fixed request rate, open loop. */
const OPEN_LOOP_RATE = 100;
const BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
const log = (...args) => console.log(...args);
const failures = [];

// --- bundle size ---------------------------------------------------------------
function bundleSize() {
  const outdir = mkdtempSync(join(tmpdir(), "referral-edge-bundle-"));
  const built = spawnSync("wrangler", ["deploy", "--dry-run", "--outdir", outdir], {
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  if (built.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${built.stderr}`);
  const files = readdirSync(outdir).filter((file) => file.endsWith(".js"));
  const raw = files.reduce((sum, file) => sum + statSync(join(outdir, file)).size, 0);
  const gzip = files.reduce((sum, file) => sum + gzipSync(readFileSync(join(outdir, file)), { level: 9 }).length, 0);
  rmSync(outdir, { recursive: true, force: true });
  return { raw, gzip };
}

// --- the service's configuration for the bench ------------------------------------
/**
 * The bench is one client playing thousands of visitors, one dashboard and one
 * signup backend at hundreds of requests a second: it would hit every rate
 * limit at once. So it runs the service from a copy of wrangler.toml with the
 * budgets raised (and the counters' click budget, CLICK_LIMIT_PER_MINUTE, see
 * serviceVars); the limits still run on every request they guard.
 */
const BENCH_CONFIG = ".wrangler.bench.toml";
function writeBenchConfigs() {
  const text = readFileSync("wrangler.toml", "utf8");
  const raised = text.replace(
    /simple = \{ limit = \d+, period = (\d+) \}/g,
    "simple = { limit = 10000000, period = $1 }",
  );
  if (raised === text) {
    throw new Error("wrangler.toml's rate limits are not where the bench expects them: update bench/run.mjs");
  }
  writeFileSync(BENCH_CONFIG, raised);
}

// --- helpers ---------------------------------------------------------------------
async function api(service, method, path, body) {
  return JSON.parse(await apiText(service, method, path, body));
}

async function inBatches(items, size, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "—");

/** Times sequential calls: a latency that reflects the work of one read, not queueing. */
async function timeReads(url, headers, count = 200) {
  const samples = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(samples.length / 2)], mean: samples.reduce((s, x) => s + x, 0) / samples.length };
}

/** Appends `count` rows to the click log (and the matching aggregates) straight in D1. */
function seedClickHistory(service, code, count, offset) {
  const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  localD1(
    service.state,
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
     INSERT INTO clicks (id, code, clicked_at, visitor_hash, is_bot, is_unique, country, referrer_host, agent_family)
     SELECT 'seed-${offset}-' || i, '${code}', ${Date.parse(day)} + (i % 86400000), hex(randomblob(16)), 0, 1, 'NL', NULL, 'chrome' FROM n;
     INSERT INTO code_daily (code, day, clicks, unique_clicks) VALUES ('${code}', '${day}', ${count}, ${count})
       ON CONFLICT (code, day) DO UPDATE SET clicks = clicks + excluded.clicks, unique_clicks = unique_clicks + excluded.unique_clicks;
     INSERT INTO program_daily (day, clicks, unique_clicks) VALUES ('${day}', ${count}, ${count})
       ON CONFLICT (day) DO UPDATE SET clicks = clicks + excluded.clicks, unique_clicks = unique_clicks + excluded.unique_clicks;`,
  );
}

/** Adds `count` referrers with signups and conversions straight in D1. */
function seedReferrers(service, count) {
  localD1(
    service.state,
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
     INSERT OR IGNORE INTO referral_codes (code, user_id, display_name, clicks, unique_clicks, signups, conversions, created_at)
     SELECT 'DEVO-REF' || printf('%05d', i), 'bench-ref-' || i, 'Referrer ' || i, i % 500, i % 400, i % 50, i % 7, ${Date.now()} FROM n;`,
  );
}

/** Signs in to the console with the bench's admin key; returns the session cookie. */
async function adminSession(service) {
  const res = await fetch(`${service.base}/admin/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ key: ADMIN_KEY }),
    redirect: "manual",
  });
  const cookie = res.headers.get("set-cookie")?.split(";")[0];
  if (res.status !== 303 || !cookie) throw new Error(`console login answered ${res.status}`);
  return cookie;
}

/** Waits until D1 holds `expected` human click rows for the codes, or gives up. */
async function waitForFlush(service, where, expected, timeoutMs = 180_000) {
  const until = Date.now() + timeoutMs;
  let rows = -1;
  while (Date.now() < until) {
    try {
      rows = Number(
        localD1(service.state, `SELECT count(*) AS n FROM clicks WHERE is_bot = 0 AND ${where}`)[0]?.n ?? 0,
      );
    } catch (error) {
      // The service is writing its flushes to the same SQLite file: ask again.
      if (!/SQLITE_BUSY/.test(String(error))) throw error;
    }
    if (rows >= expected) return rows;
    await sleep(1_000);
  }
  return rows;
}

// --- run -------------------------------------------------------------------------
log("Measuring the bundle (wrangler deploy --dry-run)…");
const bundle = bundleSize();
log(`  ${fmt(bundle.raw / 1024, 1)} KiB raw, ${fmt(bundle.gzip / 1024, 1)} KiB gzip`);

log("Starting the baseline Worker and the service in the local Workers runtime (wrangler dev)…");
const baseline = await startLocalService({
  port: PORT + 1,
  inspectorPort: INSPECTORS.baseline,
  config: "bench/baseline/wrangler.toml",
  migrate: false,
});
writeBenchConfigs();
const ADMIN_KEY = "bench-admin-key-0123456789";
const serviceVars = (port) => ({
  ADMIN_KEYS: ADMIN_KEY,
  CLICK_SHARDS: flags.shards,
  // Every bench visitor comes from 127.0.0.1: the budget runs on every click but never refuses one.
  CLICK_LIMIT_PER_MINUTE: "1000000",
  PUBLIC_URL: `http://127.0.0.1:${port}`,
  SIGNUP_URL: "https://app.example.com/signup",
});
const service = await startLocalService({
  port: PORT,
  inspectorPort: INSPECTORS.service,
  config: BENCH_CONFIG,
  vars: serviceVars(PORT),
});

try {
  log(`Creating a hot code and ${CODES} other codes…`);
  const hot = (await api(service, "POST", "/api/codes", { userId: "bench-hot", name: "hot" })).code;
  const spread = await inBatches(
    Array.from({ length: CODES }, (_, i) => i),
    25,
    async (i) => (await api(service, "POST", "/api/codes", { userId: `bench-user-${i}`, name: "b" })).code,
  );
  const reader = (await api(service, "POST", "/api/codes", { userId: "bench-reader", name: "read" })).code;
  const { token } = await api(service, "POST", "/api/widget-tokens", { userId: "bench-reader" });
  const widgetHeaders = { authorization: `Bearer ${token}` };
  const apiHeaders = { authorization: `Bearer ${service.apiKey}` };

  // Reads at 1 thousand and at 1 million recorded clicks, before the load adds any.
  let flatness = null;
  if (!flags["skip-scale"]) {
    const scale = Number(flags["scale-clicks"]);
    log(`Timing reads at 1,000 recorded clicks, then at ${scale.toLocaleString("en-US")}…`);
    seedClickHistory(service, reader, 1_000, 0);
    const small = {
      me: await timeReads(`${service.base}/widgets/v1/me`, widgetHeaders),
      stats: await timeReads(`${service.base}/api/stats`, apiHeaders),
    };
    const t0 = performance.now();
    seedClickHistory(service, reader, scale - 1_000, 1);
    log(`  seeded ${(scale - 1_000).toLocaleString("en-US")} rows in ${fmt((performance.now() - t0) / 1000, 1)} s`);
    const rows = Number(localD1(service.state, "SELECT count(*) AS n FROM clicks")[0]?.n);
    const large = {
      me: await timeReads(`${service.base}/widgets/v1/me`, widgetHeaders),
      stats: await timeReads(`${service.base}/api/stats`, apiHeaders),
    };
    // The console at the same scale, with 10,000 referrers: its pages read the same flat aggregates.
    seedReferrers(service, 10_000);
    const cookie = await adminSession(service);
    const consoleHeaders = { cookie };
    const { referral } = await api(service, "POST", "/api/attributions", {
      refereeId: "bench-story-referee",
      code: reader,
    });
    const consolePages = {
      overview: await timeReads(`${service.base}/admin`, consoleHeaders, 100),
      referrers: await timeReads(`${service.base}/admin/referrers`, consoleHeaders, 100),
      search: await timeReads(`${service.base}/admin/referrers?q=bench-ref-77`, consoleHeaders, 100),
      referrer: await timeReads(`${service.base}/admin/referrers/bench-reader`, consoleHeaders, 100),
      story: await timeReads(`${service.base}/admin/referrals/${referral.id}`, consoleHeaders, 100),
      fraud: await timeReads(`${service.base}/admin/fraud`, consoleHeaders, 100),
      deliveries: await timeReads(`${service.base}/admin/deliveries`, consoleHeaders, 100),
      settings: await timeReads(`${service.base}/admin/settings`, consoleHeaders, 100),
    };
    flatness = {
      consoleReferrers: 10_000,
      consoleMs: Object.fromEntries(Object.entries(consolePages).map(([page, timing]) => [page, timing.p50])),
      clickRows: rows,
      meMsAt1k: small.me.p50,
      meMsAtScale: large.me.p50,
      meRatio: large.me.p50 / small.me.p50,
      statsMsAt1k: small.stats.p50,
      statsMsAtScale: large.stats.p50,
      statsRatio: large.stats.p50 / small.stats.p50,
    };
  }

  // A new visitor per request, each a browser (an empty or bot agent would measure the bot path): every
  // click is a unique one, the costliest for the counter.
  let visitors = 0;
  const browserHeaders = () => ({ "user-agent": `${BROWSER} visitor/${++visitors}` });
  // Redirects: the baseline, the hot code and the 1,000 codes in short alternating
  // slices, so drift on the machine falls on all three alike.
  const redirects = [
    {
      name: "baseline: bare 302",
      origin: baseline.base,
      processGroup: baseline.processGroup,
      target: { path: "/r/anything", headers: browserHeaders },
    },
    {
      name: "GET /r/:code, one hot code",
      origin: service.base,
      processGroup: service.processGroup,
      target: { path: `/r/${hot}`, headers: browserHeaders },
    },
    {
      name: `GET /r/:code, ${CODES} codes`,
      origin: service.base,
      processGroup: service.processGroup,
      target: { path: () => `/r/${spread[Math.floor(Math.random() * spread.length)]}`, headers: browserHeaders },
    },
  ];
  const results = {};
  // A first visit per code: the isolate learns the code from its counter and the counter wakes up.
  log(`Visiting each of the ${CODES} codes once (codes the isolate has no word on yet)…`);
  let next = 0;
  results[`GET /r/:code, first visit of each of ${CODES} codes`] = await runLoad(
    service.base,
    { path: () => `/r/${spread[next++ % spread.length]}`, headers: browserHeaders },
    { connections: load.connections, durationMs: 60_000, maxRequests: CODES, processGroup: service.processGroup },
  );
  const rounds = Number(flags.rounds);
  const sliceMs = Number(flags.slice) * 1000;
  log(`Loading the redirects: ${rounds} rounds of ${flags.slice} s per scenario, ${load.connections} connections…`);
  Object.assign(
    results,
    await runInterleaved(redirects, { connections: load.connections, rounds, sliceMs, warmupMs: load.warmupMs }),
  );
  log(`Low load: ${OPEN_LOOP_RATE} requests/s open loop, ${rounds} rounds of ${flags.slice} s per scenario…`);
  const openLoop = await runOpenLoopInterleaved(
    [
      { name: `baseline at ${OPEN_LOOP_RATE} req/s (open loop)`, origin: baseline.base, target: redirects[0].target },
      {
        name: `GET /r/:code, one hot code, at ${OPEN_LOOP_RATE} req/s (open loop)`,
        origin: service.base,
        target: redirects[1].target,
      },
    ],
    { rate: OPEN_LOOP_RATE, rounds, sliceMs },
  );
  Object.assign(results, openLoop);

  let referee = 0;
  /** @type {[string, string, import("./load.mjs").Target][]} */
  const scenarios = [
    [
      "POST /api/attributions",
      service.base,
      {
        method: "POST",
        path: "/api/attributions",
        headers: { ...apiHeaders, "content-type": "application/json" },
        body: () => JSON.stringify({ refereeId: `bench-referee-${++referee}`, code: spread[referee % spread.length] }),
      },
    ],
    ["GET /widgets/v1/me", service.base, { path: "/widgets/v1/me", headers: widgetHeaders }],
  ];
  for (const [name, origin, target] of scenarios) {
    log(`Loading ${name} (${load.connections} connections, ${flags.warmup} s warm-up + ${flags.duration} s)…`);
    results[name] = await runLoad(origin, target, { ...load, processGroup: service.processGroup });
  }

  const base = results["baseline: bare 302"].rps;
  const baseP99 = results["baseline: bare 302"].p99;
  log("");
  log("| scenario | requests | req/s | p50 ms | p99 ms | req/s vs baseline | p99 vs baseline | server CPU ms/req |");
  log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const [name, r] of Object.entries(results)) {
    if (name in openLoop) continue;
    log(
      `| ${name} | ${r.requests} | ${fmt(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.rps / base, 2)} | ${fmt(r.p99 / baseP99, 2)} | ${fmt(r.serverCpuMsPerRequest, 2)} |`,
    );
  }

  log("");
  log(`Low load, ${OPEN_LOOP_RATE} requests/s open loop (latency of one request when nothing queues):`);
  log("| scenario | requests | p50 ms | p99 ms | p50 − baseline p50 ms |");
  log("|---|---:|---:|---:|---:|");
  const openBaseP50 = openLoop[`baseline at ${OPEN_LOOP_RATE} req/s (open loop)`].p50;
  for (const [name, r] of Object.entries(openLoop)) {
    log(`| ${name} | ${r.requests} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.p50 - openBaseP50, 2)} |`);
  }

  // --- correctness under load -----------------------------------------------------
  log("");
  log("Checking every click under load was counted once and reached D1 once…");
  const hotServed =
    (results["GET /r/:code, one hot code"].statuses["302"] ?? 0) +
    (results[`GET /r/:code, one hot code, at ${OPEN_LOOP_RATE} req/s (open loop)`].statuses["302"] ?? 0);
  const spreadServed =
    (results[`GET /r/:code, ${CODES} codes`].statuses["302"] ?? 0) +
    (results[`GET /r/:code, first visit of each of ${CODES} codes`].statuses["302"] ?? 0);
  const hotStats = (await api(service, "GET", `/api/codes/${hot}`)).stats;
  const spreadCounted = (
    await inBatches(spread, 25, async (code) => (await api(service, "GET", `/api/codes/${code}`)).stats.clicks)
  ).reduce((sum, n) => sum + n, 0);
  const hotRows = await waitForFlush(service, `code = '${hot}'`, hotStats.clicks);
  const spreadRows = await waitForFlush(service, `code LIKE 'DEVO-B%'`, spreadCounted);
  const hotD1 = Number(localD1(service.state, `SELECT clicks AS n FROM referral_codes WHERE code = '${hot}'`)[0]?.n);
  const correctness = {
    hot: { served302: hotServed, counted: hotStats.clicks, d1Rows: hotRows, d1Counter: hotD1 },
    spread: { served302: spreadServed, counted: spreadCounted, d1Rows: spreadRows },
    errors: Object.values(results).reduce((sum, r) => sum + r.errors, 0),
  };
  log(
    `  hot code: ${hotServed} redirects, ${hotStats.clicks} counted, ${hotRows} rows in D1, D1 counter ${hotD1}; ` +
      `${CODES} codes: ${spreadServed} redirects, ${spreadCounted} counted, ${spreadRows} rows in D1`,
  );
  if (hotServed !== hotStats.clicks || hotRows !== hotStats.clicks || hotD1 !== hotStats.clicks) {
    failures.push("hot code: clicks lost or doubled");
  }
  if (spreadServed !== spreadCounted || spreadRows !== spreadCounted)
    failures.push("spread codes: clicks lost or doubled");

  // --- targets --------------------------------------------------------------------
  const hotR = results["GET /r/:code, one hot code"];
  const spreadR = results[`GET /r/:code, ${CODES} codes`];
  const firstR = results[`GET /r/:code, first visit of each of ${CODES} codes`];
  const openBase = openLoop[`baseline at ${OPEN_LOOP_RATE} req/s (open loop)`];
  const openHot = openLoop[`GET /r/:code, one hot code, at ${OPEN_LOOP_RATE} req/s (open loop)`];
  const targets = [
    ["/r/:code, one hot code: throughput ≥ 0.85 × baseline", hotR.rps / base, hotR.rps / base >= 0.85],
    [`/r/:code, ${CODES} codes: throughput ≥ 0.75 × baseline`, spreadR.rps / base, spreadR.rps / base >= 0.75],
    [
      `/r/:code, first visits of ${CODES} codes: throughput ≥ 0.75 × baseline`,
      firstR.rps / base,
      firstR.rps / base >= 0.75,
    ],
    ["/r/:code, one hot code: p99 ≤ 1.5 × baseline", hotR.p99 / baseP99, hotR.p99 / baseP99 <= 1.5],
    [
      `/r/:code at ${OPEN_LOOP_RATE} req/s: p50 within 1 ms of the baseline's (ms over)`,
      openHot.p50 - openBase.p50,
      openHot.p50 - openBase.p50 <= 1,
    ],
    ["zero lost or doubled clicks", 0, failures.length === 0],
    ...(flatness
      ? [
          ["GET /widgets/v1/me at 1M ≤ 1.5 × at 1k", flatness.meRatio, flatness.meRatio <= 1.5],
          ["GET /api/stats at 1M ≤ 1.5 × at 1k", flatness.statsRatio, flatness.statsRatio <= 1.5],
          ...Object.entries(flatness.consoleMs).map(([page, ms]) => [
            `console ${page} at 10k referrers, 1M clicks: p50 < 100 ms`,
            ms,
            ms < 100,
          ]),
        ]
      : []),
  ];
  log("");
  log("| target | measured | met |");
  log("|---|---:|---|");
  for (const [name, value, met] of targets) log(`| ${name} | ${fmt(value, 2)} | ${met ? "yes" : "NO"} |`);
  if (flatness) {
    log("");
    log(
      `Reads (p50 of 200 sequential calls): /widgets/v1/me ${fmt(flatness.meMsAt1k, 2)} ms → ${fmt(flatness.meMsAtScale, 2)} ms, ` +
        `/api/stats ${fmt(flatness.statsMsAt1k, 2)} ms → ${fmt(flatness.statsMsAtScale, 2)} ms at ${flatness.clickRows.toLocaleString("en-US")} click rows`,
    );
    log(
      `Console (p50 of 100 sequential calls, 10,000 referrers, ${flatness.clickRows.toLocaleString("en-US")} click rows): ` +
        Object.entries(flatness.consoleMs)
          .map(([page, ms]) => `${page} ${fmt(ms, 2)} ms`)
          .join(", "),
    );
  }
  log(`Bundle: ${bundle.raw} bytes raw, ${bundle.gzip} bytes gzip`);

  mkdirSync(dirname(flags.out), { recursive: true });
  writeFileSync(
    flags.out,
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
        settings: {
          ...load,
          rounds: Number(flags.rounds),
          sliceMs: Number(flags.slice) * 1000,
          codes: CODES,
          shards: Number(flags.shards),
        },
        scenarios: results,
        baseline: { rps: base, p99: baseP99 },
        openLoop: { rate: OPEN_LOOP_RATE, baselineP50: openBase.p50, hotP50: openHot.p50 },
        correctness,
        flatness,
        bundle,
        targets: targets.map(([name, value, met]) => ({ name, value, met })),
      },
      null,
      2,
    )}\n`,
  );
  log(`Wrote ${flags.out}`);
} finally {
  await service.stop();
  await baseline.stop();
  rmSync(BENCH_CONFIG, { force: true });
}
// The click log's rows (D1 and R2 bytes, flush times, every click once in R2): bench/click-log.mjs, on ports
// 8940–8941, or with BENCH_PORT set on the service's own ports (free again by now). --skip-click-log leaves it out.
if (!flags["skip-click-log"]) {
  const ports = process.env.BENCH_PORT ? { port: PORT, inspectorPort: INSPECTORS.service } : {};
  failures.push(...(await (await import("./click-log.mjs")).runClickLogBench({ log, ...ports })).failures);
}

if (failures.length > 0) {
  console.error(`\nFAILED: ${failures.join("; ")}`);
  process.exit(1);
}
