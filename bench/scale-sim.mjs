// `npm run bench:scale`: a simulation of the click path at global scale.
// It draws one second of clicks (Zipf-popular codes, spread over isolates),
// routes them the way src/services/clicks.ts and the counter objects do, and
// adds up the load on each Durable Object and on D1. The per-object and D1
// capacities are stated assumptions (see docs/SCALE.md), not measurements.
import { parseArgs } from "node:util";

const { values: flags } = parseArgs({
  options: {
    codes: { type: "string", default: "1000000" },
    zipf: { type: "string", default: "1.1" },
    seed: { type: "string", default: "7" },
    json: { type: "boolean", default: false },
  },
});

// The design's constants (src/durable-objects/code-counter.ts, src/services/clicks.ts).
const COUNTER_BUCKETS = 256;
const FLUSH_DELAY_S = 30;
const FLUSH_BATCH = 500;
// Assumptions about the platform, from its documented limits and local measurement.
const RPC_MS = 10; // one recordClicks RPC to a counter, its storage commit included
const DO_WRITES_PER_S = 500; // storage commits one object sustains (the order of magnitude Cloudflare gives)
const D1_MS_PER_BATCH = 2; // fixed cost of one batch
const D1_MS_PER_ROW = 0.03; // one click row with its two indexes
const D1_MS_PER_CODE = 0.05; // one code's counter and daily upserts
const D1_MAX_BYTES = 10 * 1024 ** 3; // D1's database size limit
const BYTES_PER_CLICK = 230; // measured: a click row with its indexes, in the local D1
const RETENTION_DAYS = 90;
const CLICKS_PER_ISOLATE_PER_S = 50;

// A small deterministic PRNG, so runs are repeatable.
let state = Number(flags.seed) >>> 0 || 1;
const random = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 4_294_967_296;
};

function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Cumulative Zipf weights over `n` codes, for sampling by binary search. */
function zipfTable(n, s) {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let rank = 0; rank < n; rank++) {
    total += 1 / (rank + 1) ** s;
    cumulative[rank] = total;
  }
  for (let rank = 0; rank < n; rank++) cumulative[rank] /= total;
  return cumulative;
}

function sampleRank(cumulative) {
  const u = random();
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One simulated second. `hotShare` sends that share of the clicks to one code
 * (a code gone viral) on top of the Zipf traffic.
 */
function simulate({ name, rate, shards = 1, hotShare = 0, cumulative, buckets = COUNTER_BUCKETS, logInD1 = true }) {
  const isolates = Math.max(100, Math.ceil(rate / CLICKS_PER_ISOLATE_PER_S));
  // Per (isolate, counter): the times of its clicks, to apply the batching rule.
  const sends = new Map();
  const perCounter = new Map();
  const codesPerCounter = new Map();
  for (let i = 0; i < rate; i++) {
    const hot = random() < hotShare;
    const code = hot ? "HOT" : `C${sampleRank(cumulative)}`;
    // CLICK_SHARDS applies to every code; a visitor's hash picks the shard.
    const shard = shards > 1 ? Math.floor(random() * shards) : 0;
    const counter = fnv1a(shard === 0 ? code : `${code}:${shard}`) % buckets;
    const isolate = Math.floor(random() * isolates);
    const key = isolate * buckets + counter;
    const at = random() * 1000;
    const list = sends.get(key);
    if (list) list.push(at);
    else sends.set(key, [at]);
    perCounter.set(counter, (perCounter.get(counter) ?? 0) + 1);
    const codes = codesPerCounter.get(counter) ?? new Set();
    codes.add(code);
    codesPerCounter.set(counter, codes);
  }

  // RPCs: an isolate sends at once when no RPC to that counter is in flight;
  // clicks that arrive while one is go together in the next, when it returns.
  const rpcs = new Map();
  for (const [key, times] of sends) {
    times.sort((a, b) => a - b);
    let count = 0;
    let inFlightUntil = -Infinity;
    let waiting = false;
    for (const t of times) {
      if (waiting && t >= inFlightUntil) {
        count++;
        inFlightUntil += RPC_MS;
        waiting = false;
      }
      if (t < inFlightUntil) {
        waiting = true;
        continue;
      }
      count++;
      inFlightUntil = t + RPC_MS;
    }
    if (waiting) count++;
    const counter = key % buckets;
    rpcs.set(counter, (rpcs.get(counter) ?? 0) + count);
  }

  const busiest = Math.max(...rpcs.values());
  const totalRpcs = [...rpcs.values()].reduce((a, b) => a + b, 0);
  // Flushes: each active counter sends a full batch as soon as it has one, else one batch per interval.
  let flushBatchesPerS = 0;
  let d1MsPerS = 0;
  for (const [counter, clicks] of perCounter) {
    const batches = Math.max(1 / FLUSH_DELAY_S, clicks / FLUSH_BATCH);
    flushBatchesPerS += batches;
    const codesPerBatch = Math.min(codesPerCounter.get(counter)?.size ?? 1, clicks / batches);
    d1MsPerS += batches * (D1_MS_PER_BATCH + D1_MS_PER_CODE * codesPerBatch) + (logInD1 ? clicks * D1_MS_PER_ROW : 0);
  }
  const logBytesPerDay = logInD1 ? rate * 86_400 * BYTES_PER_CLICK : 0;
  return {
    name,
    rate,
    buckets,
    logInD1,
    isolates,
    shards,
    activeCounters: perCounter.size,
    rpcsPerClick: totalRpcs / rate,
    busiestCounterWritesPerS: busiest,
    busiestCounterLoad: busiest / DO_WRITES_PER_S,
    d1FlushBatchesPerS: flushBatchesPerS,
    d1BusyShare: d1MsPerS / 1000,
    clickLogGbPerDay: logBytesPerDay / 1024 ** 3,
    daysUntilD1Full: D1_MAX_BYTES / logBytesPerDay,
    retentionFits: logBytesPerDay * RETENTION_DAYS <= D1_MAX_BYTES,
  };
}

const cumulative = zipfTable(Number(flags.codes), Number(flags.zipf));
const runs = [
  simulate({ name: "100 clicks/s globally", rate: 100, cumulative }),
  simulate({ name: "10,000 clicks/s globally", rate: 10_000, cumulative }),
  simulate({ name: "10,000 clicks/s globally, CLICK_SHARDS=4", rate: 10_000, shards: 4, cumulative }),
  simulate({
    name: "10,000 clicks/s globally, CLICK_SHARDS=4, log off D1",
    rate: 10_000,
    shards: 4,
    logInD1: false,
    cumulative,
  }),
  simulate({ name: "1,000,000 clicks/s globally", rate: 1_000_000, cumulative }),
  simulate({
    name: "1,000,000 clicks/s, 16,384 counters, CLICK_SHARDS=256, log off D1",
    rate: 1_000_000,
    shards: 256,
    buckets: 16_384,
    logInD1: false,
    cumulative,
  }),
  simulate({ name: "10,000 clicks/s on one code", rate: 10_000, hotShare: 1, cumulative }),
  simulate({ name: "10,000 clicks/s on one code, CLICK_SHARDS=32", rate: 10_000, shards: 32, hotShare: 1, cumulative }),
];

if (flags.json) {
  console.log(JSON.stringify(runs, null, 2));
} else {
  const f = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(
    `Simulated one second: ${f(Number(flags.codes))} codes, Zipf ${flags.zipf}, ${COUNTER_BUCKETS} counter objects unless stated, ` +
      `${CLICKS_PER_ISOLATE_PER_S} clicks/s per isolate at most.\n`,
  );
  console.log(
    "| load | isolates | active counters | RPCs per click | busiest counter writes/s | of ~500/s | D1 flush batches/s | D1 busy | click log GB/day | days to D1's 10 GB |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of runs) {
    console.log(
      `| ${r.name} | ${f(r.isolates)} | ${f(r.activeCounters)} | ${f(r.rpcsPerClick, 2)} | ${f(r.busiestCounterWritesPerS)} | ` +
        `${f(r.busiestCounterLoad * 100)} % | ${f(r.d1FlushBatchesPerS, 1)} | ${f(r.d1BusyShare * 100)} % | ` +
        `${f(r.clickLogGbPerDay, 2)} | ${!r.logInD1 ? "—" : r.daysUntilD1Full >= 1 ? f(r.daysUntilD1Full, 1) : `${f(r.daysUntilD1Full * 24, 1)} h`} |`,
    );
  }
}
