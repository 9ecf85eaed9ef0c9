import type { ClickInput } from "../domain/clicks";
import { type CodeCounter, counterName } from "../durable-objects/code-counter";
import { describeError } from "../log";

/**
 * How a share-link request reaches its counter without making the person wait.
 *
 * - A code this isolate saw its counter confirm lately is redirected at once;
 *   the click joins a per-counter queue and is sent in the background.
 * - A click answered but not yet stored lives only in this isolate's memory,
 *   and a crash loses it: so the queue is as short-lived as can be. When no
 *   RPC to the counter is in flight, the click is sent at once (no timer, no
 *   gathering). Only clicks that arrive while one is in flight wait, and they
 *   all go together in the next RPC, the moment the current one returns.
 * - One request per counter at a time is the sender: from its own `waitUntil`
 *   it sends, then sends what queued up meanwhile, until the queue is empty.
 *   Other requests only append; no request waits on another's I/O.
 * - The queue holds at most MAX_QUEUED clicks: past that, a request sends its
 *   own click before answering. So per counter and isolate, at most
 *   MAX_QUEUED answered clicks wait and MAX_BATCH are in flight (twice that
 *   for the moment a sender hands over, see drain).
 * - A code not seen lately makes the person wait for its counter's answer,
 *   since only the counter knows whether the code exists.
 */

const KNOWN_FOR_MS = 10 * 60_000;
const MAX_KNOWN = 10_000;
/** A sender hands over after this long, well inside the runtime's waitUntil limit. */
const LEAD_FOR_MS = 5_000;
/** The most clicks one RPC carries. */
export const MAX_BATCH = 200;
/** The most answered clicks that wait for an RPC in flight, per counter (see above). */
export const MAX_QUEUED = MAX_BATCH;

const knownCodes = new Map<string, number>();
const queues = new Map<string, ClickInput[]>();
const senders = new Set<string>();

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
      for (const [code, exists] of Object.entries(known)) if (!exists) knownCodes.delete(code);
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
  const queue = queues.get(name) ?? [];
  // A full queue means the counter is slow: this click does not join the clicks at risk, it is sent below.
  if (isKnownCode(click.code, click.at) && queue.length < MAX_QUEUED) {
    queue.push(click);
    queues.set(name, queue);
    if (!senders.has(name)) {
      senders.add(name);
      waitUntil(drain(namespace, backlog, name));
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
