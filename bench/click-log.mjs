// `npm run bench:click-log`: what the click log costs where it is kept. Runs the
// service in the local Workers runtime (wrangler dev) with CLICK_LOG_HOT_DAYS=0,
// sends real share-link clicks (one hot code, then a thousand codes), waits for
// every flush, and measures: D1 bytes the clicks added (aggregates only),
// R2 bytes per click, each flush's R2 write and D1 batch, and whether the R2
// log holds every click exactly once. Ports 8940–8959 only; bounded in time.
//
// Also run from bench/run.mjs (`npm run bench`) when it is imported there.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { localD1, startLocalService } from "../scripts/local-service.mjs";
import { apiText } from "./load.mjs";

const BENCH_CONFIG = ".wrangler.bench-click-log.toml";
const PORT = 8940;
const INSPECTOR_PORT = 8941;
const BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
const FLUSH_LINE = /click flush (\S+): (\d+) clicks, R2 (\d+) ms, D1 (\d+) ms/g;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "—");
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)];
};

async function inBatches(items, size, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

/** The bench's copy of wrangler.toml: rate limits raised, so one client can play thousands of visitors. */
function writeBenchConfig() {
  const text = readFileSync("wrangler.toml", "utf8");
  const raised = text.replace(
    /simple = \{ limit = \d+, period = (\d+) \}/g,
    "simple = { limit = 10000000, period = $1 }",
  );
  if (raised === text) throw new Error("wrangler.toml's rate limits are not where bench/click-log.mjs expects them");
  writeFileSync(BENCH_CONFIG, raised);
}

/** The first SQLite file under a miniflare storage folder (D1 database, R2 bucket metadata). */
function sqliteUnder(state, kind) {
  const dir = join(state, "v3", kind);
  for (const sub of readdirSync(dir)) {
    const files = readdirSync(join(dir, sub)).filter((file) => file.endsWith(".sqlite"));
    if (files.length > 0) return join(dir, sub, files[0]);
  }
  throw new Error(`no SQLite file under ${dir}`);
}

/** Bytes in use per table (with its indexes) in the local D1 file, from SQLite's dbstat: pages less their free space. */
function d1TableBytes(state) {
  const db = new DatabaseSync(sqliteUnder(state, "d1"), { readOnly: true });
  try {
    const pages = db.prepare("SELECT name, sum(pgsize - unused) AS bytes FROM dbstat GROUP BY name").all();
    const owners = new Map(
      db
        .prepare("SELECT name, tbl_name AS tableName FROM sqlite_master WHERE type IN ('table', 'index')")
        .all()
        .map((row) => [row.name, row.tableName]),
    );
    const bytes = {};
    for (const { name, bytes: size } of pages) {
      const table = owners.get(name) ?? name;
      bytes[table] = (bytes[table] ?? 0) + Number(size);
    }
    return bytes;
  } finally {
    db.close();
  }
}

/**
 * The click log's objects in the local R2 bucket: how many and their bytes, in
 * all and for the objects of full 500-click flushes (each object says how many
 * clicks it holds in its custom metadata).
 */
function r2Objects(state) {
  const db = new DatabaseSync(sqliteUnder(state, "r2"), { readOnly: true });
  try {
    const rows = db.prepare("SELECT size, custom_metadata AS meta FROM _mf_objects WHERE key LIKE 'clicks/%'").all();
    const sizes = { objects: 0, bytes: 0, fullObjects: 0, fullBytes: 0, fullClicks: 0 };
    for (const row of rows) {
      const size = Number(row.size);
      sizes.objects++;
      sizes.bytes += size;
      const clicks = Number(JSON.parse(String(row.meta)).clicks ?? 0);
      if (clicks === 500) {
        sizes.fullObjects++;
        sizes.fullBytes += size;
        sizes.fullClicks += clicks;
      }
    }
    return sizes;
  } finally {
    db.close();
  }
}

/** One person's click: a distinct visitor (address and agent) per click. */
async function clickOnce(service, code, n) {
  const res = await fetch(`${service.base}/r/${code}`, {
    redirect: "manual",
    headers: {
      "user-agent": `${BROWSER} bench/${n}`,
      "cf-connecting-ip": `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    },
  });
  await res.arrayBuffer();
  if (res.status !== 302) throw new Error(`/r/${code} answered ${res.status}`);
}

/** Sums what D1's codes counted, until it reaches `expected` or the time is up. */
async function waitForCounts(service, expected, timeoutMs) {
  const until = Date.now() + timeoutMs;
  let counted = -1;
  while (Date.now() < until) {
    try {
      counted = Number(localD1(service.state, "SELECT coalesce(sum(clicks), 0) AS n FROM referral_codes")[0]?.n ?? 0);
    } catch (error) {
      if (!/SQLITE_BUSY/.test(String(error))) throw error;
    }
    if (counted >= expected) return counted;
    await sleep(2_000);
  }
  return counted;
}

/**
 * A day of the log as GET /api/clicks streams it: lines, distinct click ids and
 * distinct visitors. Every click the bench sends is its own visitor (its own
 * address and agent), so a click the client sent twice (an HTTP client may
 * resend an idempotent GET when a kept-alive connection closes) shows as two
 * ids of one visitor, while a click the service doubled would repeat an id.
 */
async function logLines(service, day) {
  const text = await apiText(service, "GET", `/api/clicks?day=${day}`);
  const clicks = text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));
  return {
    lines: clicks.length,
    distinct: new Set(clicks.map((click) => click.id)).size,
    visitors: new Set(clicks.map((click) => click.visitorHash)).size,
  };
}

/**
 * Runs the click log bench; returns its rows and failures.
 * @param {{ hotClicks?: number, codes?: number, clicksPerCode?: number, log?: (...args: unknown[]) => void, port?: number, inspectorPort?: number }} options
 */
export async function runClickLogBench({
  hotClicks = 5_000,
  codes = 1_000,
  clicksPerCode = 5,
  log = console.log,
  port = PORT,
  inspectorPort = INSPECTOR_PORT,
} = {}) {
  writeBenchConfig();
  const flushes = [];
  let pending = "";
  // Shows the counters' per-flush debug lines in this service's output, which the bench reads.
  const logLevel = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = "debug";
  const starting = startLocalService({
    port,
    inspectorPort,
    config: BENCH_CONFIG,
    vars: { CLICK_LOG_HOT_DAYS: "0", PUBLIC_URL: `http://127.0.0.1:${port}` },
    output: (text) => {
      pending += text;
      const lastBreak = pending.lastIndexOf("\n");
      if (lastBreak < 0) return;
      for (const m of pending.slice(0, lastBreak).matchAll(FLUSH_LINE)) {
        flushes.push({ id: m[1], clicks: Number(m[2]), r2Ms: Number(m[3]), d1Ms: Number(m[4]) });
      }
      pending = pending.slice(lastBreak + 1);
    },
  });
  const service = await starting.finally(() => {
    if (logLevel === undefined) delete process.env.WRANGLER_LOG;
    else process.env.WRANGLER_LOG = logLevel;
  });
  const failures = [];
  try {
    log(`click log: creating a hot code and ${codes} other codes…`);
    const create = async (userId) =>
      JSON.parse(await apiText(service, "POST", "/api/codes", { userId, name: "cl" })).code;
    const hot = await create("click-log-hot");
    const spread = await inBatches(
      Array.from({ length: codes }, (_, i) => i),
      25,
      (i) => create(`click-log-user-${i}`),
    );
    const before = d1TableBytes(service.state);
    const day = new Date().toISOString().slice(0, 10);

    log(
      `click log: ${hotClicks} clicks on one code (full 500-click flushes), ${codes * clicksPerCode} over ${codes} codes…`,
    );
    const started = Date.now();
    await inBatches(
      Array.from({ length: hotClicks }, (_, i) => i),
      32,
      (i) => clickOnce(service, hot, i),
    );
    await inBatches(
      Array.from({ length: codes * clicksPerCode }, (_, i) => i),
      32,
      (i) => clickOnce(service, spread[i % codes], hotClicks + i),
    );
    const sent = hotClicks + codes * clicksPerCode;
    const sendSeconds = (Date.now() - started) / 1000;
    // A counter flushes a partial batch 30 s after its first click: wait for the last ones.
    const counted = await waitForCounts(service, sent, 300_000);
    await sleep(1_000);
    const after = d1TableBytes(service.state);
    const r2 = r2Objects(service.state);
    const logged = await logLines(service, day);

    const grew = (table) => (after[table] ?? 0) - (before[table] ?? 0);
    const aggregates = grew("code_daily") + grew("program_daily");
    const markers = grew("click_flushes");
    const flushCount = Number(localD1(service.state, "SELECT count(*) AS n FROM click_flushes")[0]?.n ?? 0);
    const d1Grew = Object.keys(after).reduce((sum, table) => sum + grew(table), 0);
    // A million clicks over the same 1,000 codes in one day add the same aggregate rows (one per code
    // and day: they do not grow with clicks) and one flush marker per 500 clicks at most.
    const perMarker = flushCount > 0 ? markers / flushCount : 0;
    const d1PerMillion = aggregates + (1_000_000 / 500) * perMarker;
    const full = flushes.filter((f) => f.clicks === 500);
    const row = {
      clicksSent: sent,
      clicksCountedInD1: counted,
      clicksInR2: logged.lines,
      distinctClicksInR2: logged.distinct,
      sendSeconds,
      d1BytesGrown: d1Grew,
      d1ClickRowBytes: grew("clicks"),
      d1AggregateBytes: aggregates,
      d1MarkerBytes: markers,
      flushes: flushCount,
      d1BytesPerMillionClicks: d1PerMillion,
      r2Objects: r2.objects,
      r2Bytes: r2.bytes,
      r2BytesPerClick: r2.bytes / Math.max(1, logged.lines),
      r2BytesPerClickFullFlushes: r2.fullBytes / Math.max(1, r2.fullClicks),
      clientResent: logged.lines - logged.visitors,
      fullFlushes: full.length,
      flushR2MsP50: median(full.map((f) => f.r2Ms)),
      flushD1MsP50: median(full.map((f) => f.d1Ms)),
      flushTotalMsP50: median(full.map((f) => f.r2Ms + f.d1Ms)),
      allFlushesR2MsP50: median(flushes.map((f) => f.r2Ms)),
      allFlushesD1MsP50: median(flushes.map((f) => f.d1Ms)),
    };
    // Lost: a click sent whose visitor is not in the log. Doubled: a click id twice in the log, or the
    // log and D1's exact counters disagreeing.
    if (logged.visitors !== sent) failures.push(`click log: ${sent - logged.visitors} of ${sent} clicks lost`);
    if (logged.lines !== logged.distinct) failures.push(`click log: ${logged.lines - logged.distinct} clicks doubled`);
    if (counted !== logged.lines) failures.push(`click log: D1 counted ${counted}, R2 holds ${logged.lines}`);
    if (row.d1ClickRowBytes > 0) failures.push("click log: D1 kept click rows with CLICK_LOG_HOT_DAYS=0");

    log("");
    log("Click log (wrangler dev on a shared 2-core machine: timings are noisy, sizes are not)");
    const lines = [
      [
        "D1 bytes per 1,000,000 clicks over 1,000 codes",
        `${fmt(d1PerMillion / 1e6, 2)} MB`,
        "< 1 MB",
        d1PerMillion < 1e6,
      ],
      [
        "  measured: D1 growth for this run (aggregates, markers)",
        `${fmt(d1Grew / 1024, 1)} KiB for ${sent} clicks`,
        "",
        true,
      ],
      [
        "R2 bytes per click (gzip NDJSON), full 500-click flushes",
        `${fmt(row.r2BytesPerClickFullFlushes, 1)} (${r2.fullObjects} objects)`,
        "≤ 60",
        row.r2BytesPerClickFullFlushes <= 60,
      ],
      ["  all objects, small flushes of quiet counters included", fmt(row.r2BytesPerClick, 1), "", true],
      ["  R2 objects written", `${r2.objects} (${flushes.length} flushes logged)`, "", true],
      [
        "flush of 500 clicks, p50: R2 write + D1 batch",
        `${fmt(row.flushTotalMsP50)} ms (${full.length} flushes)`,
        "",
        true,
      ],
      ["flush of 500 clicks, p50: D1 batch alone (no R2 write)", `${fmt(row.flushD1MsP50)} ms`, "", true],
      ["flush of 500 clicks, p50: the R2 write", `${fmt(row.flushR2MsP50)} ms`, "", true],
      [
        "zero lost or doubled clicks, counted in R2",
        `${logged.visitors}/${sent} sent, ${logged.distinct} ids in ${logged.lines} lines, D1 ${counted}`,
        "0 lost, 0 doubled",
        failures.length === 0,
      ],
      ["  clicks the HTTP client resent (each counted once, as any click)", String(row.clientResent), "", true],
    ];
    for (const [name, value, target, ok] of lines) {
      log(`  ${name.padEnd(66)} ${String(value).padStart(46)}  ${target ? `${ok ? "ok  " : "MISS"} ${target}` : ""}`);
    }
    return { row, failures };
  } finally {
    await service.stop();
    rmSync(BENCH_CONFIG, { force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      "hot-clicks": { type: "string", default: "5000" },
      codes: { type: "string", default: "1000" },
      "clicks-per-code": { type: "string", default: "5" },
      out: { type: "string", default: "bench/out/click-log.json" },
    },
  });
  const { row, failures } = await runClickLogBench({
    hotClicks: Number(values["hot-clicks"]),
    codes: Number(values.codes),
    clicksPerCode: Number(values["clicks-per-code"]),
  });
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify({ at: new Date().toISOString(), clickLog: row, failures }, null, 2)}\n`);
  if (failures.length > 0) {
    console.error(`\nFAILED: ${failures.join("; ")}`);
    process.exit(1);
  }
}
