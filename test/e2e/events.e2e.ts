import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PORT_OFFSET, LOCAL_EVENTS_SECRET, startLocalService } from "../../scripts/local-service.mjs";

/**
 * Outbound events against a real HTTP receiver on 127.0.0.1 that refuses the
 * first two attempts of every event: each must arrive, signed, until it is
 * taken, and the delivery log must say so.
 */

const PORT = 8789 + E2E_PORT_OFFSET;
const RECEIVER_PORT = 8799 + E2E_PORT_OFFSET;

type Received = { id: string; type: string; attempt: number; signed: boolean };
const received: Received[] = [];
const attempts = new Map<string, number>();
let receiver: Server;
let service: { base: string; apiKey: string; stop: () => Promise<void> };

function signatureValid(body: string, header: string): boolean {
  const parts = header.split(",").map((part) => part.split("=", 2));
  const t = parts.find(([key]) => key === "t")?.[1] ?? "";
  const expected = createHmac("sha256", LOCAL_EVENTS_SECRET).update(`${t}.${body}`).digest("hex");
  return (
    Math.abs(Date.now() / 1000 - Number(t)) < 300 && parts.some(([key, value]) => key === "v1" && value === expected)
  );
}

async function api(path: string, body?: unknown) {
  const res = await fetch(`${service.base}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${service.apiKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

describe("outbound events to a flaky receiver", () => {
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        const id = String(req.headers["referral-event-id"]);
        const attempt = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, attempt);
        received.push({
          id,
          type: String(req.headers["referral-event-type"]),
          attempt,
          signed: signatureValid(body, String(req.headers["referral-signature"])),
        });
        res.writeHead(attempt <= 2 ? 503 : 200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(RECEIVER_PORT, "127.0.0.1", resolve));
    service = await startLocalService({
      port: PORT,
      vars: { EVENTS_URL: `http://127.0.0.1:${RECEIVER_PORT}/referral-events`, EVENTS_RETRY_BASE_S: "1" },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it("delivers every event, signed, after the receiver's failures", async () => {
    const { code } = (await api("/api/codes", { userId: "e2e-referrer", name: "evt" })) as { code: string };
    await api("/api/attributions", { refereeId: "e2e-referee", code });

    // 1 referral.signed_up + 5 reward.granted, each tried 3 times (1 s, then 2 s apart).
    for (let i = 0; i < 60 && [...attempts.values()].filter((n) => n >= 3).length < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(attempts.size).toBe(6);
    expect([...attempts.values()]).toEqual([3, 3, 3, 3, 3, 3]);
    expect(received.every((r) => r.signed)).toBe(true);
    expect(received.filter((r) => r.type === "reward.granted")).toHaveLength(15);

    const log = (await api("/api/events?limit=50")) as {
      events: { id: string; delivery: { state: string; attempts: number; lastStatus: number } }[];
    };
    expect(log.events).toHaveLength(6);
    for (const event of log.events)
      expect(event.delivery).toMatchObject({ state: "delivered", attempts: 3, lastStatus: 200 });
  });
});
