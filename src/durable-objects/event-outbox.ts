import { DurableObject } from "cloudflare:workers";
import { type Config, getConfig } from "../config";
import { createDb, type Db } from "../db/client";
import { dueEvents, markDelivered, markFailed, nextDue, type OutboxRow } from "../db/queries/outbox";
import { signEvent } from "../domain/event-signature";

/** Events per alarm run; more are due → the next run follows at once. */
const BATCH = 50;
const MAX_BACKOFF_MS = 6 * 60 * 60_000;
const DELIVERY_TIMEOUT_MS = 10_000;
/** A poke waits this long, so events written together go out together. */
const POKE_DELAY_MS = 250;

export type OutboxNamespace = DurableObjectNamespace<EventOutbox>;

/** The one delivery worker for outbound events. */
export function outboxStub(namespace: OutboxNamespace) {
  return namespace.getByName("outbox");
}

/** The event as the host product receives it. */
export function eventBody(row: OutboxRow): string {
  return JSON.stringify({
    id: row.id,
    sequence: row.sequence,
    type: row.type,
    createdAt: new Date(row.createdAt).toISOString(),
    data: JSON.parse(row.payload) as unknown,
  });
}

/**
 * Delivers the outbox (D1 `outbox_events`) to EVENTS_URL: each event until
 * its endpoint answers 2xx, with exponential backoff between attempts. At
 * least once: a receiver dedupes by the event id. Usually in order, not
 * always: an event waiting out its backoff does not hold back later ones (one
 * refusing endpoint must not stall every event for hours), so a retried event
 * can arrive after later ones; a receiver that needs the order sorts by
 * `sequence`, which increases strictly in commit order. The outbox itself is
 * the durable state; this object only schedules the sending.
 */
export class EventOutbox extends DurableObject<Env> {
  /** Something was written: deliver soon (no-op when a delivery is due sooner). */
  async poke(): Promise<void> {
    const soon = Date.now() + POKE_DELAY_MS;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > soon) await this.ctx.storage.setAlarm(soon);
  }

  override async alarm(): Promise<void> {
    const config = getConfig(this.env);
    if (!config.eventsUrl) return;
    const db = createDb(this.env.DB);
    for (const event of await dueEvents(db, Date.now(), BATCH)) await this.deliver(db, config, event);
    const next = await nextDue(db);
    if (next !== null) await this.ctx.storage.setAlarm(Math.max(next, Date.now() + 100));
  }

  private async deliver(db: Db, config: Config, event: OutboxRow): Promise<void> {
    const body = eventBody(event);
    let status: number | null = null;
    let error = "";
    try {
      const res = await fetch(config.eventsUrl as string, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "referral-edge-events/1",
          "referral-event-id": event.id,
          "referral-event-sequence": String(event.sequence),
          "referral-event-type": event.type,
          "referral-signature": await signEvent(body, config.eventsSecrets, Date.now()),
        },
        body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      status = res.status;
      await res.body?.cancel();
      if (res.ok) {
        await markDelivered(db, event.sequence, status, Date.now());
        return;
      }
      error = `HTTP ${status}`;
    } catch (cause) {
      error = cause instanceof Error ? cause.message : String(cause);
    }
    const delay = Math.min(MAX_BACKOFF_MS, config.eventsRetryBaseMs * 2 ** event.attempts);
    await markFailed(db, event.sequence, status, error, Date.now() + delay);
  }
}
