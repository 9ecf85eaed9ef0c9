import {
  type ClickCounters,
  type CodeCounter,
  counterName,
  type UnflushedClicks,
} from "../durable-objects/code-counter";
import { describeError } from "../log";

/**
 * Clicks the counters counted but D1's daily aggregates do not hold yet, so
 * that a chart or a total shows the same clicks as the live counters.
 *
 * The order is what makes it exact: ask the counters first, then read D1's
 * aggregates together with each counter's landed-flush mark (one batch, one
 * snapshot), and add only the counter's batches whose flush is above that
 * mark (see UnflushedClicks). A flush landing between the two reads is then
 * in D1 and skipped here, never counted twice; a click counted after the
 * counters were asked may be in D1 already or not, and is in the read at most
 * once either way.
 */

export type AskedCounters = [name: string, unflushed: UnflushedClicks][];

/** The counter objects a code's shards live in, each once. */
export function counterNamesOf(code: string, shards: number): string[] {
  return [...new Set(Array.from({ length: shards }, (_, shard) => counterName(code, shard)))];
}

/**
 * Asks each counter for its unflushed clicks of `code` (of every code when
 * null), per day in [from, to]. A counter that does not answer is left out:
 * the read then shows what D1 has for it (its clicks up to its last flush)
 * rather than failing the whole read; the next read catches up.
 */
export async function askCounters(
  namespace: DurableObjectNamespace<CodeCounter>,
  names: readonly string[],
  code: string | null,
  from: string,
  to: string,
): Promise<AskedCounters> {
  const asked = await Promise.all(
    names.map(async (name): Promise<AskedCounters[number] | null> => {
      try {
        return [name, await namespace.getByName(name).unflushedClicks(code, from, to)];
      } catch (error) {
        console.warn(`counter ${name} did not report its unflushed clicks; read without them`, describeError(error));
        return null;
      }
    }),
  );
  return asked.filter((entry): entry is AskedCounters[number] => entry !== null);
}

/** Per day, the clicks the counters hold beyond the flushes D1 showed as landed. */
export function beyondFlushed(asked: AskedCounters, flushed: ReadonlyMap<string, number>): Map<string, ClickCounters> {
  const byDay = new Map<string, ClickCounters>();
  for (const [name, { claimed, days }] of asked) {
    const landed = flushed.get(name) ?? 0;
    for (const part of days) {
      if (claimed + part.batch <= landed) continue;
      const sum = byDay.get(part.day) ?? { clicks: 0, uniqueClicks: 0, botClicks: 0 };
      sum.clicks += part.clicks;
      sum.uniqueClicks += part.uniqueClicks;
      sum.botClicks += part.botClicks;
      byDay.set(part.day, sum);
    }
  }
  return byDay;
}
