// `npm run bench:counter-sql`: what the counter object's storage writes cost per batch of
// clicks, apart from everything else a click does. Runs bench/counter-sql/worker.js in wrangler dev
// (on BENCH_PORT, default 8790, inspector two ports up when it is set) and times batches of new
// clicks written each way (see the worker), patterns interleaved round by round: the server CPU
// (all processes of the wrangler dev, from /proc) per RPC and per click.
// X_LOCAL_OBSERVABILITY=false turns off wrangler dev's local trace collector, which production does not run.
import { parseArgs } from "node:util";
import { startLocalService } from "../scripts/local-service.mjs";
import { groupCpuSeconds } from "./load.mjs";

const { values: flags } = parseArgs({
  options: {
    patterns: { type: "string", default: "perClick,batched,visitorsAtFlush,rpcOnly" },
    batches: { type: "string", default: "1,4,32" },
    rpcs: { type: "string", default: "400" },
    rounds: { type: "string", default: "4" },
  },
});
const PORT = Number(process.env.BENCH_PORT ?? 8790);
const patterns = flags.patterns.split(",");
const batches = flags.batches.split(",").map(Number);
const rpcs = Number(flags.rpcs);

const service = await startLocalService({
  port: PORT,
  ...(process.env.BENCH_PORT ? { inspectorPort: PORT + 2 } : {}),
  config: "bench/counter-sql/wrangler.toml",
  migrate: false,
});
try {
  const run = async (pattern, batch, count) => {
    const res = await fetch(`${service.base}/?pattern=${pattern}&batch=${batch}&rpcs=${count}`);
    if (!res.ok) throw new Error(`${pattern} × ${batch}: ${res.status} ${await res.text()}`);
  };
  for (const batch of batches) for (const pattern of patterns) await run(pattern, batch, 50); // warm-up
  const totals = new Map();
  for (let round = 0; round < Number(flags.rounds); round++) {
    for (const batch of batches) {
      for (const pattern of round % 2 ? [...patterns].reverse() : patterns) {
        const cpuBefore = groupCpuSeconds(service.processGroup);
        const started = performance.now();
        await run(pattern, batch, rpcs);
        const total = totals.get(`${pattern} ${batch}`) ?? { cpuMs: 0, wallMs: 0, rpcs: 0, batch };
        total.cpuMs += (groupCpuSeconds(service.processGroup) - cpuBefore) * 1000;
        total.wallMs += performance.now() - started;
        total.rpcs += rpcs;
        totals.set(`${pattern} ${batch}`, total);
      }
    }
  }
  const observability = process.env.X_LOCAL_OBSERVABILITY === "false" ? "off" : "on";
  console.log(`wrangler dev's local trace collector: ${observability}`);
  console.log("| pattern | clicks per batch | CPU µs per batch | CPU µs per click | wall µs per batch |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [key, t] of totals) {
    const perBatch = (t.cpuMs * 1000) / t.rpcs;
    console.log(
      `| ${key.split(" ")[0]} | ${t.batch} | ${perBatch.toFixed(0)} | ${(perBatch / t.batch).toFixed(0)} | ${((t.wallMs * 1000) / t.rpcs).toFixed(0)} |`,
    );
  }
} finally {
  await service.stop();
}
