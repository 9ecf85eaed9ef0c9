import type { ClickInput } from "../domain/clicks";
import { type CodeCounter, counterName } from "../durable-objects/code-counter";
import { describeError } from "../log";

/**
 * How a share-link request reaches its counter without making the person wait.
 *
 * - Every click is answered first and sent afterwards: the request never
 *   waits for a counter, not even for a code this isolate has never seen.
 *   Whether the code exists is the counter's to decide; it drops clicks of
 *   codes it does not have (see docs/hot-path.md).
 * - The counters' answers teach the isolate which codes exist and which do
 *   not (codeStatus). The redirect uses that only to choose what the cookie
 *   says, never to decide whether to count.
 * - A click answered but not yet stored lives only in this isolate's memory,
 *   and a crash loses it: so the queue is as short-lived as can be. When no
 *   RPC to the counter is in flight, the click is sent at once (no timer, no
 *   gathering). Only clicks that arrive while one is in flight wait, and they
 *   all go together in the next RPC, the moment the current one returns.
 * - One request per counter at a time is the sender: from its own `waitUntil`
 *   it sends, then sends what queued up meanwhile, until the queue is empty.
 *   Other requests only append; no request waits on another's I/O.
 * - The queue holds at most MAX_QUEUED clicks: past that, a request sends its
 *   own click in an RPC of its own (from its own `waitUntil`), so a slow
 *   counter does not grow the number of clicks that wait in memory.
 */

/** How long a counter's word on a code is trusted: that it exists... */
const KNOWN_FOR_MS = 10 * 60_000;
/** ...or that it does not (short: a code may be created meanwhile). */
const UNKNOWN_FOR_MS = 60_000;
const MAX_KNOWN = 10_000;
/** A sender hands over after this long, well inside the runtime's waitUntil limit. */
const LEAD_FOR_MS = 5_000;
/** The most clicks one RPC carries. */
export const MAX_BATCH = 200;
/** The most answered clicks that wait for an RPC in flight, per counter (see above). */
export const MAX_QUEUED = MAX_BATCH;

/** Per code: whether it exists, and until when that is trusted. */
const codeWord = new Map<string, { exists: boolean; until: number }>();
const queues = new Map<string, ClickInput[]>();
const senders = new Set<string>();

/**
 * What this isolate heard lately from the code's counter (or from creating
 * it): "exists", "unknown", or undefined when it has no word on the code.
 */
export function codeStatus(code: string, now: number): "exists" | "unknown" | undefined {
  const word = codeWord.get(code);
  if (word === undefined) return undefined;
  if (word.until > now) return word.exists ? "exists" : "unknown";
  codeWord.delete(code);
  return undefined;
}

/** Records what a counter (or the code's creation) said about a code. */
export function rememberCode(code: string, exists: boolean, now: number): void {
  if (codeWord.size >= MAX_KNOWN && !codeWord.has(code)) {
    // Maps iterate in insertion order: drop the oldest entry.
    const oldest = codeWord.keys().next().value;
    if (oldest !== undefined) codeWord.delete(oldest);
  }
  codeWord.delete(code);
  codeWord.set(code, { exists, until: now + (exists ? KNOWN_FOR_MS : UNKNOWN_FOR_MS) });
}

/** Drops what this isolate heard about a code (it was retired here). */
export function forgetCodeStatus(code: string): void {
  codeWord.delete(code);
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
    console.warn(`${clicks.length} clicks could not reach their counter ${name}; backlogged: ${describeError(cause)}`);
  } catch (error) {
    console.error(
      `${clicks.length} clicks could not reach their counter ${name} nor the backlog: ` +
        `${describeError(cause)}\nbacklog: ${describeError(error)}`,
    );
  }
}

async function sendQueued(namespace: Counters, backlog: Backlog, name: string, clicks: ClickInput[]): Promise<void> {
  for (let i = 0; i < clicks.length; i += MAX_BATCH) {
    const batch = clicks.slice(i, i + MAX_BATCH);
    try {
      const known = await send(namespace, name, batch);
      const now = Date.now();
      for (const [code, exists] of Object.entries(known)) rememberCode(code, exists, now);
    } catch (error) {
      await toBacklog(backlog, name, batch, error);
    }
  }
}

/**
 * The sender's loop: send what is queued at once, then what queued up while
 * that RPC was in flight, until the queue is empty. A sender that has sent for
 * LEAD_FOR_MS sends the rest and steps down, and the next click's request
 * takes over. Stepping down always happens in the same synchronous step as
 * taking the last clicks: a click queued later finds no sender and its
 * request sends it.
 */
async function drain(namespace: Counters, backlog: Backlog, name: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    const queue = queues.get(name) ?? [];
    const overtime = Date.now() - started > LEAD_FOR_MS;
    if (queue.length === 0 || overtime) {
      queues.delete(name);
      senders.delete(name);
      if (queue.length > 0) await sendQueued(namespace, backlog, name, queue);
      return;
    }
    await sendQueued(namespace, backlog, name, queue.splice(0, MAX_BATCH));
  }
}

/**
 * Hands a click to its counter from the background: nothing here is awaited
 * by the response. The counter counts it exactly once if its code exists and
 * the visitor is within the click budget; a counter that cannot be reached
 * leaves it in the backlog for the cron.
 */
export function queueClick(
  namespace: Counters,
  backlog: Backlog,
  click: ClickInput,
  waitUntil: (promise: Promise<unknown>) => void,
): void {
  const name = counterName(click.code, click.shard);
  const queue = queues.get(name) ?? [];
  // A full queue means the counter is slow: this click does not join the waiting ones, it goes on its own.
  if (queue.length >= MAX_QUEUED) {
    waitUntil(sendQueued(namespace, backlog, name, [click]));
    return;
  }
  queue.push(click);
  queues.set(name, queue);
  if (!senders.has(name)) {
    senders.add(name);
    waitUntil(drain(namespace, backlog, name));
  }
}
