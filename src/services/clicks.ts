import type { ClickInput } from "../domain/clicks";
import { type CodeCounter, counterName } from "../durable-objects/code-counter";

/**
 * How a share-link request reaches its counter without making the person wait.
 *
 * - A code this isolate saw its counter confirm lately is redirected at once;
 *   the click joins a per-counter queue and is sent in the background.
 * - One request per counter at a time is the queue's leader: from its own
 *   `waitUntil` it sends what is queued, then what queued up meanwhile, so
 *   under load one RPC (and one storage commit) carries many clicks. Other
 *   requests only append to the queue; no request waits on another's I/O.
 * - A code not seen lately makes the person wait for its counter's answer,
 *   since only the counter knows whether the code exists.
 */

const KNOWN_FOR_MS = 10 * 60_000;
const MAX_KNOWN = 10_000;
/**
 * How long a leader lets clicks gather before sending to a counter that was
 * sent to moments ago (a busy, hot code). Nobody waits for it (the responses
 * are gone), and it turns many RPCs into one. An idle counter is sent to at
 * once: waiting would only add timers, with nothing to gather.
 */
const GATHER_MS = 20;
const BUSY_WITHIN_MS = 100;
/** A leader hands over after this long, well inside the runtime's waitUntil limit. */
const LEAD_FOR_MS = 5_000;
const MAX_BATCH = 200;

const knownCodes = new Map<string, number>();
const queues = new Map<string, ClickInput[]>();
const leaders = new Set<string>();
const lastSent = new Map<string, number>();

/** Whether this isolate's counter confirmed the code lately. */
export function isKnownCode(code: string, now: number): boolean {
  const until = knownCodes.get(code);
  if (until === undefined) return false;
  if (until > now) return true;
  knownCodes.delete(code);
  return false;
}

function remember(code: string, now: number): void {
  if (knownCodes.size >= MAX_KNOWN) {
    // Maps iterate in insertion order: drop the oldest entry.
    const oldest = knownCodes.keys().next().value;
    if (oldest !== undefined) knownCodes.delete(oldest);
  }
  knownCodes.set(code, now + KNOWN_FOR_MS);
}

type Counters = DurableObjectNamespace<CodeCounter>;

/** Sends clicks to one counter, once more on failure: a counter skips click ids it already has. */
async function send(namespace: Counters, name: string, clicks: ClickInput[]): Promise<Record<string, boolean>> {
  try {
    return await namespace.getByName(name).recordClicks(clicks);
  } catch {
    return await namespace.getByName(name).recordClicks(clicks);
  }
}

/** Keeps clicks their counter did not take (the click backlog), for the cron to hand over later. */
export type Backlog = (counter: string, clicks: ClickInput[]) => Promise<void>;

/** Backlogs clicks that could not reach their counter; only if that fails too are they lost. */
async function toBacklog(backlog: Backlog, name: string, clicks: ClickInput[], cause: unknown): Promise<void> {
  try {
    await backlog(name, clicks);
    console.warn(`${clicks.length} clicks could not reach their counter ${name}; backlogged`, cause);
  } catch (error) {
    console.error(`${clicks.length} clicks could not reach their counter ${name} nor the backlog`, cause, error);
  }
}

async function sendQueued(namespace: Counters, backlog: Backlog, name: string, clicks: ClickInput[]): Promise<void> {
  for (let i = 0; i < clicks.length; i += MAX_BATCH) {
    const batch = clicks.slice(i, i + MAX_BATCH);
    try {
      const known = await send(namespace, name, batch);
      for (const [code, exists] of Object.entries(known)) if (!exists) knownCodes.delete(code);
    } catch (error) {
      await toBacklog(backlog, name, batch, error);
    }
  }
}

/** The leader's loop: send what is queued until the queue is empty or this request has led long enough. */
async function lead(namespace: Counters, backlog: Backlog, name: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    const overtime = Date.now() - started > LEAD_FOR_MS;
    const busy = Date.now() - (lastSent.get(name) ?? 0) < BUSY_WITHIN_MS;
    if (busy && !overtime && (queues.get(name)?.length ?? 0) < MAX_BATCH) await scheduler.wait(GATHER_MS);
    const queue = queues.get(name) ?? [];
    const handOver = overtime || queue.length <= MAX_BATCH;
    const batch = queue.splice(0, handOver ? queue.length : MAX_BATCH);
    if (handOver) {
      // Taking the rest and stepping down happen in one synchronous step: a
      // click queued from now on finds no leader, and its request leads next.
      queues.delete(name);
      leaders.delete(name);
    }
    if (batch.length > 0) {
      if (lastSent.size >= MAX_KNOWN) lastSent.clear();
      lastSent.set(name, Date.now());
      await sendQueued(namespace, backlog, name, batch);
    }
    if (handOver) return;
  }
}

/**
 * Records a click exactly once and says whether its code exists. Undefined
 * when the counter could not be reached: the caller still redirects, and the
 * click waits in the backlog for the counter to come back.
 */
export async function recordClick(
  namespace: Counters,
  backlog: Backlog,
  click: ClickInput,
  waitUntil: (promise: Promise<unknown>) => void,
): Promise<{ known: boolean } | undefined> {
  const name = counterName(click.code, click.shard);
  if (isKnownCode(click.code, click.at)) {
    const queue = queues.get(name) ?? [];
    queue.push(click);
    queues.set(name, queue);
    if (!leaders.has(name)) {
      leaders.add(name);
      waitUntil(lead(namespace, backlog, name));
    }
    return { known: true };
  }
  try {
    const known = (await send(namespace, name, [click]))[click.code] === true;
    if (known) remember(click.code, click.at);
    return { known };
  } catch (error) {
    waitUntil(toBacklog(backlog, name, [click], error));
    return undefined;
  }
}
