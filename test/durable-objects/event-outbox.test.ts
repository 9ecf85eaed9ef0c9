import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { verifyEventSignature } from "../../src/domain/event-signature";
import { type EventOutbox, outboxStub } from "../../src/durable-objects/event-outbox";
import { api, attribute, countRows, createCode, type Json } from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  invoicePaid,
  newChargeId,
  newCustomerId,
} from "../stripe/fixtures";

const RECEIVER = "https://host.example.com/referral-events";
const SECRETS = ["events-secret-current-000000", "events-secret-previous-00000"];

type Event = {
  id: string;
  sequence: number;
  type: string;
  data: Record<string, unknown>;
  delivery: { state: string; attempts: number; lastStatus: number | null };
};

async function eventsOf(predicate: (e: Event) => boolean): Promise<Event[]> {
  const res = await api("/api/events?limit=200");
  return ((await res.json()) as { events: Event[] }).events.filter(predicate);
}

/** Points the outbox at the receiver, with 1 s backoff, for the length of a test. */
async function withReceiver(run: () => Promise<void>) {
  const stub = outboxStub(env.EVENT_OUTBOX);
  const configured = { ...env, EVENTS_URL: RECEIVER, EVENTS_SECRETS: SECRETS.join(","), EVENTS_RETRY_BASE_S: "1" };
  await runInDurableObject(stub, (instance: EventOutbox) => {
    (instance as unknown as { env: Env }).env = configured;
  });
  try {
    await run();
  } finally {
    await runInDurableObject(stub, (instance: EventOutbox) => {
      (instance as unknown as { env: Env }).env = env;
    });
  }
}

/** Runs the outbox's delivery as if every retry delay had passed. */
async function deliverNow() {
  await env.DB.prepare("UPDATE outbox_events SET next_attempt_at = 0 WHERE delivered_at IS NULL").run();
  await runInDurableObject(outboxStub(env.EVENT_OUTBOX), (instance: EventOutbox) => instance.alarm());
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("outbound events", () => {
  it("records referral.signed_up and reward.granted with the attribution, once", async () => {
    const code = await createCode("events-alice", "evta");
    await attribute({ refereeId: "events-bob", code });
    await attribute({ refereeId: "events-bob", code }); // a repeat grants nothing, so emits nothing

    const signedUp = await eventsOf((e) => e.type === "referral.signed_up" && e.data.refereeId === "events-bob");
    expect(signedUp).toHaveLength(1);
    expect(signedUp[0]?.data).toMatchObject({
      code,
      referrerId: "events-alice",
      source: "code",
      referrerRewarded: true,
    });
    const granted = await eventsOf(
      (e) => e.type === "reward.granted" && ["events-alice", "events-bob"].includes(String(e.data.userId)),
    );
    expect(granted.map((e) => e.data.rule).sort()).toEqual([
      "referee-pro-trial",
      "referee-welcome-messages",
      "referee-welcome-requests",
      "referrer-signup-messages",
      "referrer-signup-requests",
    ]);
    expect(granted.every((e) => e.delivery.state === "pending")).toBe(true);
  });

  it("records conversion, revocation and expiry as they happen", async () => {
    const code = await createCode("events-carol", "evtc");
    await attribute({ refereeId: "events-dan", code });
    const customer = newCustomerId();
    const at = Math.floor(Date.now() / 1000) * 1000 - 86_400_000;
    await deliver(checkoutCompleted({ userId: "events-dan", customer, at }));
    await deliver(invoicePaid({ customer, at: at + 60_000 }));
    await deliver(
      chargeRefunded({
        customer,
        chargeId: newChargeId(),
        chargedAt: at + 61_000,
        at: at + 3_600_000,
        amountRefunded: 2900,
      }),
    );
    await env.DB.prepare(
      "UPDATE rewards SET valid_until = 1 WHERE user_id = 'events-dan' AND rule = 'referee-pro-trial'",
    ).run();
    const { runScheduled } = await import("../../src/scheduled");
    await runScheduled(env, Date.now());

    const types = (
      await eventsOf((e) =>
        [e.data.refereeId, e.data.userId].some((id) => id === "events-dan" || id === "events-carol"),
      )
    )
      .map((e) => `${e.type}:${e.data.rule ?? ""}`)
      .sort();
    expect(types).toEqual(
      [
        "referral.converted:",
        "referral.signed_up:",
        "reward.expired:referee-pro-trial",
        "reward.granted:referee-pro-trial",
        "reward.granted:referee-welcome-messages",
        "reward.granted:referee-welcome-requests",
        "reward.granted:referrer-conversion-credit",
        "reward.granted:referrer-signup-messages",
        "reward.granted:referrer-signup-requests",
        "reward.revoked:referrer-conversion-credit",
      ].sort(),
    );
  });

  it("delivers to a receiver that fails the first attempts, signed, until it answers 2xx", async () => {
    const code = await createCode("deliver-erin", "erin");
    await attribute({ refereeId: "deliver-frank", code });
    const received: { id: string; attempt: number; valid: boolean }[] = [];
    const attempts = new Map<string, number>();
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      if (request.url !== RECEIVER) throw new Error(`unexpected request to ${request.url}`);
      const body = await request.text();
      const id = request.headers.get("referral-event-id") ?? "";
      const attempt = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, attempt);
      const valid = await verifyEventSignature(
        body,
        request.headers.get("referral-signature") ?? "",
        SECRETS[1] as string,
        Date.now(),
      );
      received.push({ id, attempt, valid });
      expect(JSON.parse(body).id).toBe(id);
      // The receiver is down for the first two attempts of every event.
      return new Response(null, { status: attempt <= 2 ? 503 : 204 });
    });

    await withReceiver(async () => {
      for (let round = 0; round < 4; round++) await deliverNow();
    });

    const mine = await eventsOf((e) =>
      [e.data.refereeId, e.data.userId].some((id) => id === "deliver-frank" || id === "deliver-erin"),
    );
    expect(mine).toHaveLength(6);
    for (const event of mine) {
      expect(event.delivery).toMatchObject({ state: "delivered", attempts: 3, lastStatus: 204 });
      expect(attempts.get(event.id)).toBe(3);
    }
    expect(received.every((r) => r.valid)).toBe(true);
    expect(await countRows("SELECT count(*) AS n FROM outbox_events WHERE delivered_at IS NULL")).toBe(0);
  });

  it("backs off exponentially while an endpoint fails", async () => {
    const code = await createCode("backoff-gil", "gil");
    await attribute({ refereeId: "backoff-hal", code });
    vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response("down", { status: 500 }));
    const attemptOf = () =>
      env.DB.prepare(
        `SELECT attempts, next_attempt_at AS next, last_status AS status, last_error AS error
         FROM outbox_events WHERE type = 'referral.signed_up' AND payload LIKE '%backoff-hal%'`,
      ).first<{ attempts: number; next: number; status: number; error: string }>();

    await withReceiver(async () => {
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        // The delay is counted from the failed attempt, somewhere between these two instants.
        const before = Date.now();
        await deliverNow();
        const after = Date.now();
        const row = await attemptOf();
        expect(row).toMatchObject({ attempts: attempt, status: 500, error: "HTTP 500" });
        const next = row?.next ?? 0;
        const delay = Math.round((next - after) / 1000);
        expect(next - before).toBeGreaterThanOrEqual(delay * 1000);
        expect(next - after).toBeLessThanOrEqual(delay * 1000);
        delays.push(delay);
      }
      // 1 s, 2 s, 4 s with EVENTS_RETRY_BASE_S=1 (30 s, 60 s, 120 s … up to 6 h by default).
      expect(delays).toEqual([1, 2, 4]);
    });
  });

  it("numbers events in commit order, so a receiver reorders what a retry delivered late", async () => {
    // Only this test's events are outstanding: one delivery run reaches all of them.
    await env.DB.prepare("UPDATE outbox_events SET delivered_at = 1 WHERE delivered_at IS NULL").run();
    const code = await createCode("order-ida", "ida");
    await attribute({ refereeId: "order-jay", code });
    await attribute({ refereeId: "order-kim", code });
    const ours = (e: { data: Record<string, unknown> }) =>
      ["order-ida", "order-jay", "order-kim"].some((id) => id === e.data.userId || id === e.data.refereeId);
    const listed = await eventsOf(ours);
    const committed = listed.map((e) => e.sequence).reverse();
    // Newest first in the log; strictly increasing in commit order: jay's attribution committed before kim's.
    expect(committed.length).toBeGreaterThanOrEqual(8);
    for (let i = 1; i < committed.length; i++) expect(committed[i]).toBeGreaterThan(committed[i - 1] as number);
    const naming = (id: string) =>
      listed.filter((e) => e.data.userId === id || e.data.refereeId === id).map((e) => e.sequence);
    expect(Math.max(...naming("order-jay"))).toBeLessThan(Math.min(...naming("order-kim")));

    const oldest = committed[0];
    const arrived: { id: string; sequence: number; header: string | null }[] = [];
    let refused = false;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      const body = JSON.parse(await request.text()) as { id: string; sequence: number; data: Record<string, unknown> };
      // The receiver refuses the oldest event once: every later one goes out before its retry.
      if (body.sequence === oldest && !refused) {
        refused = true;
        return new Response(null, { status: 503 });
      }
      if (ours(body)) arrived.push({ ...body, header: request.headers.get("referral-event-sequence") });
      return new Response(null, { status: 204 });
    });
    await withReceiver(async () => {
      await deliverNow();
      await deliverNow();
    });

    expect(refused).toBe(true);
    expect(arrived.map((a) => a.sequence)).toEqual([...committed.slice(1), oldest]);
    expect(arrived.every((a) => a.header === String(a.sequence))).toBe(true);
    // Sorting by sequence restores commit order.
    const byId = new Map(listed.map((e) => [e.sequence, e.id]));
    expect(arrived.toSorted((a, b) => a.sequence - b.sequence).map((a) => a.id)).toEqual(
      committed.map((sequence) => byId.get(sequence)),
    );
  });

  it("never reuses a sequence number, even after the newest event is purged", async () => {
    const code = await createCode("order-lee", "lee");
    await attribute({ refereeId: "order-max", code });
    const newest = await env.DB.prepare("SELECT max(sequence) AS n FROM outbox_events").first<{ n: number }>();
    await env.DB.prepare("DELETE FROM outbox_events WHERE sequence = ?").bind(newest?.n).run();
    await attribute({ refereeId: "order-ned", code });
    const [next] = await eventsOf((e) => e.data.refereeId === "order-ned" && e.type === "referral.signed_up");
    expect(next?.sequence).toBeGreaterThan(newest?.n ?? Number.POSITIVE_INFINITY);
  });

  it("lists the delivery log newest first, by state, page by page", async () => {
    const res = await api("/api/events?state=pending&limit=2");
    expect(res.status).toBe(200);
    const page = (await res.json()) as { events: Event[]; nextCursor: string | null };
    expect(page.events.length).toBeLessThanOrEqual(2);
    expect(page.events.every((e) => e.delivery.state === "pending")).toBe(true);
    expect((await api("/api/events?state=weird")).status).toBe(400);
    expect(((await (await api("/api/events?limit=0")).json()) as Json).error?.field).toBe("limit");
  });
});
