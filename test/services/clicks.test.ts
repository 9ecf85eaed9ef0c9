import { describe, expect, it } from "vitest";
import type { ClickInput } from "../../src/domain/clicks";
import type { CodeCounter } from "../../src/durable-objects/code-counter";
import { type Backlog, codeStatus, MAX_QUEUED, queueClick } from "../../src/services/clicks";

/**
 * A counter namespace that records every RPC and can hold the next one in
 * flight until released, so a test sees exactly when clicks leave the isolate.
 */
function fakeCounters(unknown: string[] = []) {
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
        return Object.fromEntries(clicks.map((click) => [click.code, !unknown.includes(click.code)]));
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
    queueClick(counters.namespace, noBacklog, clickOn(code, clickId), (promise) => background.push(promise));
  return { send, settled: () => Promise.all(background) };
}

describe("the isolate's click queue", () => {
  it("sends the click of an idle queue at once, without waiting for a timer, even right after a send", async () => {
    const counters = fakeCounters();
    const { send, settled } = clicker(counters, "DEVO-IDLE0001");
    // Nothing is awaited by the request: the click is handed over and already on its way.
    expect(send("first")).toBeUndefined();
    expect(counters.rpcs).toEqual([["first"]]);
    await settled();

    send("second");
    // Already sent when the request answers: no timer ran in between.
    expect(counters.rpcs).toEqual([["first"], ["second"]]);
    await settled();
    send("third");
    expect(counters.rpcs).toEqual([["first"], ["second"], ["third"]]);
    await settled();
  });

  it("sends the first click of a code it has never seen without making the request wait", async () => {
    const counters = fakeCounters();
    const code = "DEVO-COLD0001";
    expect(codeStatus(code, Date.now())).toBeUndefined();
    counters.holdNextRpc();
    const { send, settled } = clicker(counters, code);
    // The request returns while the counter still holds the RPC.
    send("cold");
    expect(counters.rpcs).toEqual([["cold"]]);
    expect(codeStatus(code, Date.now())).toBeUndefined();
    counters.release();
    await settled();
    expect(codeStatus(code, Date.now())).toBe("exists");
  });

  it("learns from the counter's answer that a code does not exist, and forgets it after a minute", async () => {
    const counters = fakeCounters(["DEVO-NOPE0001"]);
    const { send, settled } = clicker(counters, "DEVO-NOPE0001");
    send("typo");
    await settled();
    const now = Date.now();
    expect(codeStatus("DEVO-NOPE0001", now)).toBe("unknown");
    expect(codeStatus("DEVO-NOPE0001", now + 61_000)).toBeUndefined();
  });

  it("batches only the clicks that arrive while an RPC is in flight, and sends them when it returns", async () => {
    const counters = fakeCounters();
    const { send, settled } = clicker(counters, "DEVO-BUSY0001");
    send("known");
    await settled();
    counters.holdNextRpc();
    send("a");
    send("b");
    send("c");
    send("d");
    expect(counters.rpcs).toEqual([["known"], ["a"]]);

    counters.release();
    await settled();
    expect(counters.rpcs).toEqual([["known"], ["a"], ["b", "c", "d"]]);
  });

  it("keeps at most MAX_QUEUED clicks waiting: past that a click goes in an RPC of its own", async () => {
    const counters = fakeCounters();
    const { send, settled } = clicker(counters, "DEVO-FULL0001");
    send("known");
    await settled();
    counters.holdNextRpc();
    send("in-flight");
    for (let i = 0; i < MAX_QUEUED; i++) send(`queued-${i}`);
    expect(counters.rpcs).toHaveLength(2);

    send("overflow");
    expect(counters.rpcs).toEqual([["known"], ["in-flight"], ["overflow"]]);

    counters.release();
    await settled();
    expect(counters.rpcs).toHaveLength(4);
    expect(counters.rpcs[3]).toEqual(Array.from({ length: MAX_QUEUED }, (_, i) => `queued-${i}`));
  });
});
