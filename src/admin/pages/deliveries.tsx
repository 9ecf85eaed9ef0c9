import type { FC } from "hono/jsx";
import type { DeliveryState, OutboxRow } from "../../db/queries/outbox";
import { CsrfField, formatNumber, Layout, type PageContext, Pager, Status, When } from "../layout";

export interface HeldEvent {
  eventId: string;
  customerId: string;
  receivedAt: number;
  type: string | null;
}
export interface UnprocessableEvent {
  id: string;
  type: string;
  processedAt: number;
  reason: string | null;
}

const stateOf = (event: OutboxRow): DeliveryState =>
  event.deliveredAt !== null ? "delivered" : event.attempts > 0 ? "failing" : "pending";

export const DeliveriesPage: FC<{
  ctx: PageContext;
  events: OutboxRow[];
  state?: DeliveryState;
  cursor?: string;
  next: string | null;
  held: HeldEvent[];
  heldCursor?: string;
  heldNext: string | null;
  unprocessable: UnprocessableEvent[];
  unprocessableCursor?: string;
  unprocessableNext: string | null;
  eventsUrl: string | undefined;
  notice?: string;
}> = (p) => (
  <Layout ctx={p.ctx} title="Deliveries">
    <h1>Deliveries</h1>
    {p.notice ? (
      <p class="notice" role="status">
        {p.notice}
      </p>
    ) : null}
    <section aria-labelledby="outbox-heading">
      <h2 id="outbox-heading">Outbound events</h2>
      <p class="muted">
        {p.eventsUrl
          ? `Delivered to ${p.eventsUrl}, at least once, in sequence order.`
          : "EVENTS_URL is not set: events are kept in the delivery log (GET /api/events) and not sent."}
      </p>
      <form method="get" action="/admin/deliveries" class="inline">
        <label>
          State
          <select name="state">
            <option value="">Every state</option>
            {(["pending", "failing", "delivered"] as const).map((s) => (
              <option value={s} selected={s === p.state}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      {p.events.length === 0 ? (
        <p class="empty">
          No events{p.state ? ` in state ${p.state}` : ""}. Signups, grants and revocations write them.
        </p>
      ) : (
        <div class="scroll">
          <table data-testid="outbox">
            <thead>
              <tr>
                <th scope="col" class="num">
                  #
                </th>
                <th scope="col">Event</th>
                <th scope="col">Created</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Last answer</th>
                <th scope="col">Next attempt</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {p.events.map((e) => (
                <tr data-sequence={e.sequence}>
                  <td class="num">{e.sequence}</td>
                  <td>
                    {e.type}
                    <div class="mono muted">{e.id}</div>
                  </td>
                  <td>
                    <When at={e.createdAt} />
                  </td>
                  <td>
                    <Status status={stateOf(e)} />
                  </td>
                  <td class="num">{formatNumber(e.attempts)}</td>
                  <td>
                    {e.lastStatus ?? ""} {e.lastError ? <span class="mono">{e.lastError}</span> : null}
                  </td>
                  <td>{e.deliveredAt === null ? <When at={e.nextAttemptAt} /> : <span class="muted">—</span>}</td>
                  <td>
                    {e.deliveredAt === null ? (
                      <form method="post" action={`/admin/deliveries/${e.sequence}/retry`}>
                        <CsrfField ctx={p.ctx} />
                        <button type="submit" class="secondary">
                          Retry now
                        </button>
                      </form>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager base="/admin/deliveries" params={{ state: p.state, cursor: p.cursor }} next={p.next} />
    </section>
    <section aria-labelledby="held-heading">
      <h2 id="held-heading">Stripe events held</h2>
      <p class="muted">Events about a Stripe customer not yet tied to a user; applied when the checkout arrives.</p>
      {p.held.length === 0 ? (
        <p class="empty">None held: every Stripe customer seen so far is mapped to a user.</p>
      ) : (
        <div class="scroll">
          <table data-testid="held">
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Event</th>
                <th scope="col">Type</th>
                <th scope="col">Customer</th>
              </tr>
            </thead>
            <tbody>
              {p.held.map((h) => (
                <tr>
                  <td>
                    <When at={h.receivedAt} />
                  </td>
                  <td class="mono">{h.eventId}</td>
                  <td>{h.type ?? "—"}</td>
                  <td class="mono">{h.customerId}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager base="/admin/deliveries" params={{ held: p.heldCursor }} next={p.heldNext} param="held" />
    </section>
    <section aria-labelledby="bad-heading">
      <h2 id="bad-heading">Stripe events that could not be read</h2>
      {p.unprocessable.length === 0 ? (
        <p class="empty">None: every signed Stripe event had a shape the service reads.</p>
      ) : (
        <div class="scroll">
          <table data-testid="unprocessable">
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Event</th>
                <th scope="col">Type</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {p.unprocessable.map((u) => (
                <tr>
                  <td>
                    <When at={u.processedAt} />
                  </td>
                  <td class="mono">{u.id}</td>
                  <td>{u.type}</td>
                  <td>
                    <span class="badge unprocessable">{u.reason ?? "unknown"}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        base="/admin/deliveries"
        params={{ unprocessable: p.unprocessableCursor }}
        next={p.unprocessableNext}
        param="unprocessable"
      />
    </section>
  </Layout>
);
