// A bounded, in-process HTTP load generator. Each connection sends its next
// request only when the previous answer is fully read, and stops at the
// deadline after its request in flight: every request sent is answered and
// counted, so counts can be compared exactly with what the server recorded.
import { readdirSync, readFileSync } from "node:fs";
import { Pool } from "undici";

const TICKS_PER_SECOND = 100;

/**
 * CPU seconds used so far by every process in a process group (a `wrangler
 * dev` and the workerd runtimes it started), from /proc: where server time goes.
 */
export function groupCpuSeconds(processGroup) {
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === processGroup) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/**
 * @typedef {{ method?: string, path: string | (() => string), headers?: Record<string, string> | (() => Record<string, string>), body?: string | (() => string) }} Target
 * @typedef {{ requests: number, measured: number, errors: number, statuses: Record<string, number>, rps: number, p50: number, p99: number, serverCpuMsPerRequest?: number }} LoadResult
 */

function createRun(origin, target, connections, processGroup) {
  return {
    processGroup,
    cpuSeconds: 0,
    pool: new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 }),
    target,
    connections,
    statuses: /** @type {Record<string, number>} */ ({}),
    latencies: /** @type {number[]} */ ([]),
    sent: 0,
    errors: 0,
    measured: 0,
    measuredMs: 0,
  };
}

/** Drives one run for a slice of time; only requests started after `measureFrom` count towards rates. */
async function drive(run, sliceMs, warmupMs, maxRequests) {
  const cpuBefore = run.processGroup && sliceMs > 0 ? groupCpuSeconds(run.processGroup) : 0;
  const started = performance.now();
  const measureFrom = started + warmupMs;
  const deadline = measureFrom + sliceMs;
  const { target } = run;
  async function worker() {
    while (performance.now() < deadline && run.sent < maxRequests) {
      run.sent++;
      const path = typeof target.path === "function" ? target.path() : target.path;
      const body = typeof target.body === "function" ? target.body() : target.body;
      const headers = typeof target.headers === "function" ? target.headers() : target.headers;
      const t0 = performance.now();
      try {
        const res = await run.pool.request({ method: target.method ?? "GET", path, headers, body });
        await res.body.dump();
        const t1 = performance.now();
        run.statuses[res.statusCode] = (run.statuses[res.statusCode] ?? 0) + 1;
        if (t0 >= measureFrom) {
          run.latencies.push(t1 - t0);
          run.measured++;
        }
      } catch {
        run.errors++;
      }
    }
  }
  await Promise.all(Array.from({ length: run.connections }, worker));
  if (sliceMs > 0) run.measuredMs += performance.now() - Math.max(started, measureFrom);
  if (run.processGroup && sliceMs > 0) run.cpuSeconds += groupCpuSeconds(run.processGroup) - cpuBefore;
}

/** @returns {LoadResult} */
function summarize(run) {
  const latencies = [...run.latencies].sort((a, b) => a - b);
  const pick = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    requests: run.sent,
    measured: run.measured,
    errors: run.errors,
    statuses: run.statuses,
    rps: run.measured / (run.measuredMs / 1000),
    p50: pick(0.5),
    p99: pick(0.99),
    ...(run.processGroup ? { serverCpuMsPerRequest: (run.cpuSeconds * 1000) / Math.max(1, run.measured) } : {}),
  };
}

/**
 * @param {string} origin
 * @param {Target} target
 * @param {{ connections: number, durationMs: number, warmupMs?: number, maxRequests?: number, processGroup?: number }} options
 * @returns {Promise<LoadResult>}
 */
export async function runLoad(
  origin,
  target,
  { connections, durationMs, warmupMs = 0, maxRequests = 5_000_000, processGroup },
) {
  const run = createRun(origin, target, connections, processGroup);
  await drive(run, durationMs, warmupMs, maxRequests);
  await run.pool.close();
  return summarize(run);
}

/**
 * Loads several targets in turn, a short slice each, round after round, so
 * that whatever the machine does meanwhile (other load, frequency changes)
 * falls on all of them alike and their ratios stay comparable.
 * @param {{ name: string, origin: string, target: Target, processGroup?: number }[]} scenarios
 * @param {{ connections: number, rounds: number, sliceMs: number, warmupMs: number, maxRequests?: number }} options
 * @returns {Promise<Record<string, LoadResult>>}
 */
export async function runInterleaved(scenarios, { connections, rounds, sliceMs, warmupMs, maxRequests = 5_000_000 }) {
  const runs = scenarios.map((s) => ({
    name: s.name,
    run: createRun(s.origin, s.target, connections, s.processGroup),
  }));
  for (const { run } of runs) await drive(run, 0, warmupMs, maxRequests);
  for (let round = 0; round < rounds; round++) {
    for (const { run } of runs) await drive(run, sliceMs, 0, maxRequests);
  }
  /** @type {Record<string, LoadResult>} */
  const results = {};
  for (const { name, run } of runs) {
    await run.pool.close();
    results[name] = summarize(run);
  }
  return results;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One open-loop slice: requests start every 1000/rate ms whether or not earlier ones were answered. */
async function openSlice(run, rate, sliceMs, measure) {
  const interval = 1000 / rate;
  const count = Math.round(sliceMs / interval);
  const start = performance.now();
  const inFlight = [];
  for (let i = 0; i < count; i++) {
    const wait = start + i * interval - performance.now();
    if (wait > 0) await pause(wait);
    const path = typeof run.target.path === "function" ? run.target.path() : run.target.path;
    const headers = typeof run.target.headers === "function" ? run.target.headers() : run.target.headers;
    run.sent++;
    inFlight.push(
      (async () => {
        const t0 = performance.now();
        try {
          const res = await run.pool.request({ method: run.target.method ?? "GET", path, headers });
          await res.body.dump();
          const t1 = performance.now();
          run.statuses[res.statusCode] = (run.statuses[res.statusCode] ?? 0) + 1;
          if (measure) {
            run.latencies.push(t1 - t0);
            run.measured++;
          }
        } catch {
          run.errors++;
        }
      })(),
    );
  }
  await Promise.all(inFlight);
  if (measure) run.measuredMs += performance.now() - start;
}

/**
 * Open-loop load at a fixed, low rate (requests start on a schedule, not when
 * the previous one is answered), in alternating slices per scenario like
 * runInterleaved: what one request costs when nothing queues. A first slice
 * per scenario warms it and is not measured.
 * @param {{ name: string, origin: string, target: Target }[]} scenarios
 * @param {{ rate: number, rounds: number, sliceMs: number, connections?: number }} options
 * @returns {Promise<Record<string, LoadResult>>}
 */
export async function runOpenLoopInterleaved(scenarios, { rate, rounds, sliceMs, connections = 64 }) {
  const runs = scenarios.map((s) => ({ name: s.name, run: createRun(s.origin, s.target, connections, undefined) }));
  for (const { run } of runs) await openSlice(run, rate, sliceMs, false);
  for (let round = 0; round < rounds; round++) {
    for (const { run } of runs) await openSlice(run, rate, sliceMs, true);
  }
  /** @type {Record<string, LoadResult>} */
  const results = {};
  for (const { name, run } of runs) {
    await run.pool.close();
    results[name] = summarize(run);
  }
  return results;
}

/** One API call to a local service with its key; throws on any answer but 2xx, returns the body's text. */
export async function apiText(service, method, path, body) {
  const res = await fetch(`${service.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${service.apiKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text;
}
