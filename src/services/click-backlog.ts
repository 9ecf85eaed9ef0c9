import type { Db } from "../db/client";
import { dropFromBacklog, oldestBacklog } from "../db/queries/click-backlog";
import type { ClickInput } from "../domain/clicks";
import type { CodeCounter } from "../durable-objects/code-counter";
import { describeError } from "../log";

/** Backlogged clicks handed over per cron run, and per call to one counter. */
const REPLAY_LIMIT = 2_000;
const REPLAY_BATCH = 200;

/**
 * Hands backlogged clicks to their counters, which count each exactly once
 * (skipping those whose first delivery landed after all), then drops them from
 * the backlog. A counter still unreachable keeps its clicks for the next run.
 */
export async function replayClickBacklog(
  db: Db,
  counters: DurableObjectNamespace<CodeCounter>,
): Promise<{ replayed: number; waiting: number }> {
  const byCounter = new Map<string, ClickInput[]>();
  for (const { counter, click } of await oldestBacklog(db, REPLAY_LIMIT)) {
    byCounter.set(counter, [...(byCounter.get(counter) ?? []), click]);
  }
  const outcomes = await Promise.all(
    [...byCounter].map(async ([name, clicks]) => {
      try {
        for (let i = 0; i < clicks.length; i += REPLAY_BATCH) {
          const batch = clicks.slice(i, i + REPLAY_BATCH);
          await counters.getByName(name).replayClicks(batch);
          await dropFromBacklog(
            db,
            batch.map((click) => click.clickId),
          );
        }
        return { replayed: clicks.length, waiting: 0 };
      } catch (error) {
        console.warn(`backlogged clicks for counter ${name} could not be handed over yet: ${describeError(error)}`);
        return { replayed: 0, waiting: clicks.length };
      }
    }),
  );
  return outcomes.reduce((sum, o) => ({ replayed: sum.replayed + o.replayed, waiting: sum.waiting + o.waiting }), {
    replayed: 0,
    waiting: 0,
  });
}
