import { describe, expect, it } from "vitest";
import type { ClickInput } from "../../src/domain/clicks";
import type { CodeCounter } from "../../src/durable-objects/code-counter";
import { type Backlog, MAX_QUEUED, recordClick } from "../../src/services/clicks";

/**
 * A counter namespace that records every RPC and can hold the next one in
 * flight until released, so a test sees exactly when clicks leave the isolate.
 */
function fakeCounters() {
  const rpcs: string[][] = [];
  let holdNext = false;
  const held: (() => void)[] = [];
  const namespace = {
    getByName: () => ({
      recordClicks: async (clicks: ClickInput[]) => {
        rpcs.push(clicks.map((click) => click.clickId));
        if (holdNext) {
          holdNext = false;
          await new Promise<void>((resolve) => held.push(resolve));
        }
        return Object.fromEntries(clicks.map((click) => [click.code, true]));
      },
    }),
  } as unknown as DurableObjectNamespace<CodeCounter>;
  return {
    namespace,
    rpcs,
    holdNextRpc: () => {
      holdNext = true;
    },
    release: () => {
      for (const resolve of held.splice(0)) resolve();
    },
  };
}

const noBacklog: Backlog = async () => {
  throw new Error("nothing should reach the backlog");
};

function clickOn(code: string, clickId: string): ClickInput {
  return {
    code,
    shard: 0,
    clickId,
    at: Date.now(),
    visitorHash: `visitor-${clickId}`,
    bot: false,
    country: null,
    referrerHost: null,
    agentFamily: "chrome",
  };
}

/** Sends a click the way the redirect does, collecting what it leaves in the background. */
function clicker(counters: ReturnType<typeof fakeCounters>, code: string) {
  const background: Promise<unknown>[] = [];
  const send = (clickId: string) =>
    recordClick(counters.namespace, noBacklog, clickOn(code, clickId), (promise) => background.push(promise));
  return { send, settled: () => Promise.all(background) };
}

describe("the isolate's click queue", () => {
  it("sends the click of an idle queue at once, without waiting for a timer, even right after a send", async () => {
    const counters = fakeCounters();
    const { send, settled } = clicker(counters, "DEVO-IDLE0001");
    // The first click of a code this isolate does not know is sent before the answer.
    expect(await send("first")).toEqual({ known: true });
    expect(counters.rpcs).toEqual([["first"]]);

    expect(await send("second")).toEqual({ known: true });
    // Already sent when the request answers: no timer ran in between.
    expect(counters.rpcs).toEqual([["first"], ["second"]]);
    await settled();
    expect(await send("third")).toEqual({ known: true });
    expect(counters.rpcs).toEqual([["first"], ["second"], ["third"]]);
    await settled();
  });

  it("batches only the clicks that arrive while an RPC is in flight, and sends them when it returns", async () => {
    const counters = fakeCounters();
    const { send, settled } = clicker(counters, "DEVO-BUSY0001");
    await send("known");
    counters.holdNextRpc();
    await send("a");
    await send("b");
    await send("c");
    await send("d");
    expect(counters.rpcs).toEqual([["known"], ["a"]]);

    counters.release();
    await settled();
    expect(counters.rpcs).toEqual([["known"], ["a"], ["b", "c", "d"]]);
  });

  it("keeps at most MAX_QUEUED clicks waiting: past that a request sends its own click before answering", async () => {
    const counters = fakeCounters();
    const { send, settled } = clicker(counters, "DEVO-FULL0001");
    await send("known");
    counters.holdNextRpc();
    await send("in-flight");
    for (let i = 0; i < MAX_QUEUED; i++) await send(`queued-${i}`);
    expect(counters.rpcs).toHaveLength(2);

    expect(await send("overflow")).toEqual({ known: true });
    expect(counters.rpcs).toEqual([["known"], ["in-flight"], ["overflow"]]);

    counters.release();
    await settled();
    expect(counters.rpcs).toHaveLength(4);
    expect(counters.rpcs[3]).toEqual(Array.from({ length: MAX_QUEUED }, (_, i) => `queued-${i}`));
  });
});
