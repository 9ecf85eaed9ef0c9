/**
 * The per-client click budget a counter object enforces: at most `perMinute`
 * clicks per client key in each clock minute (fixed windows, like the Rate
 * Limiting binding it replaces). Clicks over the budget are still redirected
 * by the Worker; the counter neither counts nor writes them.
 *
 * Windows are taken from each click's own time, not the clock when the batch
 * arrives, so a batch delayed in a queue or replayed from the backlog is
 * judged as it happened. Only this minute's and the last minute's tallies are
 * kept: the budget lives in memory, and a restart of the object starts it
 * afresh (a gift of at most one minute's budget, never a lost click of a
 * client within it).
 */
export class ClickBudget {
  /** Per window (minutes since the epoch): clicks taken per client. */
  private readonly windows = new Map<number, Map<string, number>>();
  private newest = 0;

  /** `perMinute` 0 turns the budget off. */
  constructor(private readonly perMinute: number) {}

  /** Takes a click from the client's budget; false when it is spent. A click without a client key is not limited. */
  take(client: string | undefined, at: number): boolean {
    if (this.perMinute === 0 || client === undefined) return true;
    const window = Math.floor(at / 60_000);
    if (window > this.newest) {
      this.newest = window;
      for (const old of this.windows.keys()) if (old < window - 1) this.windows.delete(old);
    }
    let tally = this.windows.get(window);
    if (!tally) {
      tally = new Map();
      this.windows.set(window, tally);
    }
    const used = tally.get(client) ?? 0;
    if (used >= this.perMinute) return false;
    tally.set(client, used + 1);
    return true;
  }

  /** Gives back a click taken for a delivery that turned out to be a repeat (already counted). */
  giveBack(client: string | undefined, at: number): void {
    if (this.perMinute === 0 || client === undefined) return;
    const tally = this.windows.get(Math.floor(at / 60_000));
    const used = tally?.get(client);
    if (tally && used !== undefined) tally.set(client, Math.max(0, used - 1));
  }
}
