import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ClickInput } from "../../src/domain/clicks";
import { type CodeCounter, UNIQUE_WINDOW_MS } from "../../src/durable-objects/code-counter";
import { counter, flush, registerCode } from "../helpers";

const T0 = Date.UTC(2026, 11, 4, 12, 0, 0);
let sequence = 0;
function clickBy(code: string, visitorHash: string, at: number): ClickInput {
  sequence++;
  return {
    code,
    shard: 0,
    clickId: `record-${sequence}`,
    at,
    visitorHash,
    bot: false,
    country: null,
    referrerHost: null,
    agentFamily: "chrome",
  };
}

/** Makes the counter forget its in-memory copy of the visitors table, as a restart would. */
async function dropVisitorMemory(code: string, tooMany = false): Promise<void> {
  await runInDurableObject(counter(code), (instance: CodeCounter) => {
    const state = instance as unknown as { visitorsSeen: unknown; visitorsTooMany: boolean };
    state.visitorsSeen = null;
    state.visitorsTooMany = tooMany;
  });
}

describe("the counter's record path", () => {
  it("dedupes a visitor from memory, and from the stored table after a restart", async () => {
    const code = "DEVO-RECD0001";
    await registerCode(code, "record-owner-1");
    await counter(code).recordClicks([clickBy(code, "a".repeat(32), T0), clickBy(code, "a".repeat(32), T0 + 1_000)]);
    await dropVisitorMemory(code);
    await counter(code).recordClicks([clickBy(code, "a".repeat(32), T0 + 2_000)]);
    // Storage read per click when the table is too large for memory: the same answer.
    await dropVisitorMemory(code, true);
    await counter(code).recordClicks([clickBy(code, "a".repeat(32), T0 + 3_000), clickBy(code, "b".repeat(32), T0)]);

    expect(await counter(code).counters(code)).toEqual({ clicks: 5, uniqueClicks: 2, botClicks: 0 });
    expect(await counter(code).pendingClicks(code)).toBe(5);
  });

  it("remembers a visitor whose click was flushed, after a restart and when storage is read per click", async () => {
    const code = "DEVO-RECD0005";
    await registerCode(code, "record-owner-5");
    const now = Date.now();
    await counter(code).recordClicks([clickBy(code, "g".repeat(32), now), clickBy(code, "h".repeat(32), now)]);
    await flush(code);
    await dropVisitorMemory(code);
    await counter(code).recordClicks([clickBy(code, "g".repeat(32), now + 1_000)]);
    await dropVisitorMemory(code, true);
    await counter(code).recordClicks([clickBy(code, "h".repeat(32), now + 2_000)]);

    expect(await counter(code).counters(code)).toEqual({ clicks: 4, uniqueClicks: 2, botClicks: 0 });
  });

  it("counts a visitor as unique again once the unique window has passed", async () => {
    const code = "DEVO-RECD0002";
    await registerCode(code, "record-owner-2");
    const visitor = "c".repeat(32);
    await counter(code).recordClicks([clickBy(code, visitor, T0)]);
    await counter(code).recordClicks([clickBy(code, visitor, T0 + UNIQUE_WINDOW_MS - 1)]);
    await counter(code).recordClicks([clickBy(code, visitor, T0 + UNIQUE_WINDOW_MS)]);

    expect(await counter(code).counters(code)).toEqual({ clicks: 3, uniqueClicks: 2, botClicks: 0 });
  });

  it("judges a batch in order as if its retried clicks were not there: they spend no budget twice", async () => {
    const code = "DEVO-RECD0004";
    await registerCode(code, "record-owner-4");
    const fromClient = (click: ClickInput): ClickInput => ({ ...click, client: "record-client" });
    // 59 of the client's 60 clicks this minute, each from a new visitor.
    const first = Array.from({ length: 59 }, (_, i) => fromClient(clickBy(code, `${i}`.padStart(32, "e"), T0 + i)));
    await counter(code).recordClicks(first);
    // A retried click first, then two new ones: the retry spends nothing, so the first new click is the 60th.
    const retried = first[0] as ClickInput;
    const again = fromClient(clickBy(code, retried.visitorHash, T0 + 100));
    const over = fromClient(clickBy(code, "f".repeat(32), T0 + 101));
    await counter(code).recordClicks([retried, again, over]);

    // The new click of the retried click's visitor is a repeat: that visitor was counted with the first delivery.
    expect(await counter(code).counters(code)).toEqual({ clicks: 60, uniqueClicks: 59, botClicks: 0 });
    expect(await counter(code).pendingClicks(code)).toBe(60);
  });

  it("writes nothing for a code it does not have, whatever the batch holds", async () => {
    const code = "DEVO-RECD0003";
    const answer = await counter(code).recordClicks([clickBy(code, "d".repeat(32), T0)]);
    expect(answer).toEqual({ [code]: false });
    expect(await counter(code).counters(code)).toEqual({ clicks: 0, uniqueClicks: 0, botClicks: 0 });
    expect(await counter(code).pendingClicks(code)).toBe(0);
  });
});
