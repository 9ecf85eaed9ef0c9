import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runScheduled } from "../../src/scheduled";
import { call, click, counter, countRows, createCode, flush, type Json, readSetCookie } from "../helpers";
import {
  checkoutCompleted,
  deliver,
  disputeEvent,
  invoicePaid,
  newChargeId,
  newCustomerId,
  newDisputeId,
} from "../stripe/fixtures";
import { d1Snapshot } from "./snapshot";

/**
 * Failures injected where the service touches other systems: D1 failing at
 * each statement in turn, a counter object that throws, Stripe's API erroring.
 * What must hold: redirects answer; attributions and webhooks either complete
 * or answer 5xx having written nothing; after recovery the state is the one a
 * run without faults reaches.
 */

/**
 * A D1 binding that fails at its `failAt`-th statement (a batch counts each of
 * its statements and fails whole, as D1 rolls a batch back). `count` tells how
 * many statements a request used.
 */
function faultyD1(failAt: number, seen: { count: number }): D1Database {
  const real = env.DB;
  const targets = new WeakMap<object, D1PreparedStatement>();
  const tick = (n: number) => {
    const before = seen.count;
    seen.count += n;
    if (before < failAt && seen.count >= failAt) throw new Error(`D1 failure injected at statement ${failAt}`);
  };
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, key) {
        if (key === "bind") return (...values: unknown[]) => wrap(target.bind(...values));
        if (key === "first" || key === "all" || key === "run" || key === "raw") {
          return async (...args: unknown[]) => {
            tick(1);
            return (target[key] as (...a: unknown[]) => unknown)(...args);
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    targets.set(proxy, statement);
    return proxy;
  };
  return new Proxy(real, {
    get(target, key) {
      if (key === "prepare") return (query: string) => wrap(target.prepare(query));
      if (key === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          tick(statements.length);
          return target.batch(statements.map((s) => targets.get(s) ?? s));
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const withD1 = (db: D1Database): Env => ({ ...env, DB: db });

function attributionRequest(refereeId: string, code: string) {
  return {
    method: "POST",
    headers: { authorization: "Bearer test-api-key-0123456789", "content-type": "application/json" },
    body: JSON.stringify({ refereeId, code }),
  };
}

/** What an attribution left behind, without ids and times: comparable across runs. */
async function attributionState(referrerId: string, refereeId: string) {
  const referral = await env.DB.prepare(
    "SELECT source, status, referrer_rewarded AS rewarded FROM referrals WHERE referee_id = ?",
  )
    .bind(refereeId)
    .first();
  const rewards = await env.DB.prepare(
    `SELECT user_id = ? AS toReferrer, rule, amount, status FROM rewards
     WHERE user_id IN (?, ?) ORDER BY toReferrer, rule`,
  )
    .bind(referrerId, referrerId, refereeId)
    .all();
  const counters = await env.DB.prepare("SELECT signups, conversions FROM referral_codes WHERE user_id = ?")
    .bind(referrerId)
    .first();
  const events = await countRows(
    "SELECT count(*) AS n FROM outbox_events WHERE json_extract(payload, '$.refereeId') = ? OR json_extract(payload, '$.userId') IN (?, ?)",
    refereeId,
    referrerId,
    refereeId,
  );
  return { referral, rewards: rewards.results, counters, events };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("D1 failing at every statement of an attribution", () => {
  it("answers 5xx having written nothing, and after recovery ends as a run without faults", async () => {
    // A run without faults, counting its statements.
    const reference = await createCode("fault-reference", "fref");
    const seen = { count: 0 };
    const ok = await call(
      "/api/attributions",
      attributionRequest("fault-reference-ref", reference),
      withD1(faultyD1(Infinity, seen)),
    );
    expect(ok.status).toBe(201);
    const statements = seen.count;
    const expected = await attributionState("fault-reference", "fault-reference-ref");
    expect(statements).toBeGreaterThan(10);

    let fiveHundreds = 0;
    for (let failAt = 1; failAt <= statements; failAt++) {
      const referrer = `fault-${failAt}`;
      const code = await createCode(referrer, "flt");
      const before = await d1Snapshot();
      const res = await call(
        "/api/attributions",
        attributionRequest(`${referrer}-ref`, code),
        withD1(faultyD1(failAt, { count: 0 })),
      );
      expect(res.status, `failure at statement ${failAt}`).toBeGreaterThanOrEqual(500);
      expect(((await res.json()) as Json).error?.code).toBe("internal_error");
      expect(await d1Snapshot(), `failure at statement ${failAt} wrote something`).toEqual(before);
      fiveHundreds++;

      // The signup backend retries; D1 is back.
      const retried = await call("/api/attributions", attributionRequest(`${referrer}-ref`, code));
      expect(retried.status).toBe(201);
      expect(await attributionState(referrer, `${referrer}-ref`)).toEqual(expected);
    }
    console.log(
      `attribution faults: ${statements} statements, ${fiveHundreds} injected failures, ${fiveHundreds} answered 5xx, 0 rows written by a failed request`,
    );
  });
});

describe("D1 failing at every statement of a Stripe webhook", () => {
  async function referred(name: string) {
    const code = await createCode(`${name}-referrer`, "swf");
    await call("/api/attributions", attributionRequest(`${name}-referee`, code));
    const customer = newCustomerId();
    const at = Math.floor(Date.now() / 1000) * 1000 - 86_400_000;
    await deliver(checkoutCompleted({ userId: `${name}-referee`, customer, at }));
    return { customer, at, referrer: `${name}-referrer`, referee: `${name}-referee` };
  }

  async function conversionState(referrer: string, referee: string) {
    return {
      referral: await env.DB.prepare(
        "SELECT status, converted_at - signed_up_at >= -1e12 AS converted FROM referrals WHERE referee_id = ?",
      )
        .bind(referee)
        .first(),
      credit: (
        await env.DB.prepare(`SELECT amount, status FROM rewards WHERE user_id = ? AND "trigger" = 'conversion'`)
          .bind(referrer)
          .all()
      ).results,
      payments: await countRows("SELECT count(*) AS n FROM stripe_payments WHERE user_id = ?", referee),
      conversions: await countRows("SELECT conversions AS n FROM referral_codes WHERE user_id = ?", referrer),
    };
  }

  it("answers 5xx having written nothing, and Stripe's retry ends as a run without faults", async () => {
    const reference = await referred("swf-reference");
    const seen = { count: 0 };
    const ok = await deliver(invoicePaid({ customer: reference.customer, at: reference.at + 60_000 }), {
      bindings: withD1(faultyD1(Infinity, seen)),
    });
    expect(ok.body.outcome).toBe("applied");
    const statements = seen.count;
    const expected = await conversionState(reference.referrer, reference.referee);
    expect(expected.payments).toBe(1);

    for (let failAt = 1; failAt <= statements; failAt++) {
      const story = await referred(`swf-${failAt}`);
      const event = invoicePaid({ customer: story.customer, at: story.at + 60_000 });
      const before = await d1Snapshot();
      const res = await deliver(event, { bindings: withD1(faultyD1(failAt, { count: 0 })) });
      expect(res.status, `failure at statement ${failAt}`).toBeGreaterThanOrEqual(500);
      expect(await d1Snapshot(), `failure at statement ${failAt} wrote something`).toEqual(before);
      // Stripe delivers the same event again.
      expect((await deliver(event)).body.outcome).toBe("applied");
      expect(await conversionState(story.referrer, story.referee)).toEqual(expected);
    }
    console.log(
      `webhook faults: ${statements} statements, ${statements} injected failures, all answered 5xx, 0 rows written`,
    );
  });
});

describe("a counter object that throws", () => {
  function brokenCounters(): Env {
    const broken = {
      getByName: () => ({
        recordClicks: async () => {
          throw new Error("counter unavailable (injected)");
        },
      }),
    };
    return { ...env, CODE_COUNTER: broken as unknown as Env["CODE_COUNTER"] };
  }

  it("never stops the redirect: the answer waits for no counter, and the click waits in the backlog", async () => {
    const code = await createCode("broken-counter-owner", "brk");
    const res = await call(
      `/r/${code}`,
      { headers: { "user-agent": "Mozilla/5.0 Chrome/131 Safari/537.36" } },
      brokenCounters(),
    );
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get("location") ?? "").searchParams.get("ref")).toBe(code);
    expect(readSetCookie(res, "ref_token")).toBeDefined();
    // The click waits in the backlog, and is counted once the counter answers again.
    expect(await countRows("SELECT count(*) AS n FROM click_backlog WHERE click LIKE ?", `%${code}%`)).toBe(1);
    expect((await runScheduled(env, Date.now())).clickBacklog).toEqual({ replayed: 1, waiting: 0 });
    expect(await counter(code).counters(code)).toEqual({ clicks: 1, uniqueClicks: 1, botClicks: 0 });
    expect(await countRows("SELECT count(*) AS n FROM click_backlog")).toBe(0);
  });

  it("answers at once for a known code; after recovery the counts equal a run without the fault", async () => {
    const run = async (owner: string, broken: boolean) => {
      const code = await createCode(owner, "flk");
      await click(code, { ip: "100.96.0.1" });
      for (let i = 0; i < 5; i++) {
        const res = await call(
          `/r/${code}`,
          { headers: { "user-agent": "Mozilla/5.0 Chrome/131 Safari/537.36", "cf-connecting-ip": `100.96.1.${i}` } },
          broken ? brokenCounters() : env,
        );
        expect(res.status).toBe(302);
      }
      await click(code, { ip: "100.96.0.1" });
      return code;
    };
    const faulty = await run("flaky-counter-owner", true);
    const clean = await run("steady-counter-owner", false);
    expect(await countRows("SELECT count(*) AS n FROM click_backlog")).toBe(5);
    expect((await runScheduled(env, Date.now())).clickBacklog).toEqual({ replayed: 5, waiting: 0 });
    // Handing the backlog over twice counts nothing twice.
    expect((await runScheduled(env, Date.now())).clickBacklog).toEqual({ replayed: 0, waiting: 0 });
    expect(await counter(faulty).counters(faulty)).toEqual(await counter(clean).counters(clean));
    expect(await counter(faulty).counters(faulty)).toEqual({ clicks: 7, uniqueClicks: 6, botClicks: 0 });
    await flush(faulty);
    await flush(clean);
    for (const sql of [
      "SELECT count(*) AS n FROM clicks WHERE code = ?",
      "SELECT count(DISTINCT visitor_hash) AS n FROM clicks WHERE code = ?",
      "SELECT clicks AS n FROM referral_codes WHERE code = ?",
      "SELECT unique_clicks AS n FROM referral_codes WHERE code = ?",
    ]) {
      expect(await countRows(sql, faulty)).toBe(await countRows(sql, clean));
    }
  });

  it("keeps the clicks in the backlog while the counter is still down", async () => {
    const code = await createCode("down-counter-owner", "dwn");
    await click(code, { ip: "100.96.2.1" });
    await call(
      `/r/${code}`,
      { headers: { "user-agent": "Mozilla/5.0 Chrome/131 Safari/537.36", "cf-connecting-ip": "100.96.2.2" } },
      brokenCounters(),
    );
    const stillBroken = {
      ...env,
      CODE_COUNTER: {
        getByName: () => ({
          replayClicks: async () => {
            throw new Error("counter unavailable (injected)");
          },
        }),
      } as unknown as Env["CODE_COUNTER"],
    };
    const waiting = await countRows("SELECT count(*) AS n FROM click_backlog");
    expect(waiting).toBeGreaterThanOrEqual(1);
    expect((await runScheduled(stillBroken, Date.now())).clickBacklog).toEqual({ replayed: 0, waiting });
    expect(await countRows("SELECT count(*) AS n FROM click_backlog")).toBe(waiting);
    await runScheduled(env, Date.now());
    expect((await counter(code).counters(code)).clicks).toBe(2);
  });
});

describe("Stripe's API failing", () => {
  it("answers the webhook 5xx having written nothing, and applies the retry once it is back", async () => {
    const code = await createCode("api-fault-referrer", "apf");
    await call("/api/attributions", attributionRequest("api-fault-referee", code));
    const customer = newCustomerId();
    const at = Math.floor(Date.now() / 1000) * 1000 - 86_400_000;
    await deliver(checkoutCompleted({ userId: "api-fault-referee", customer, at }));
    await deliver(invoicePaid({ customer, at: at + 60_000 }));
    const chargeId = newChargeId();
    const dispute = disputeEvent("charge.dispute.created", {
      disputeId: newDisputeId(),
      chargeId,
      status: "needs_response",
      at: Date.now(),
    });
    const withApi: Env = {
      ...env,
      STRIPE_SECRET_KEY: "sk_test_stub_000000",
      STRIPE_API_BASE: "http://stripe.stub",
    } as Env;

    let up = false;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = new URL(new Request(input, init).url);
      if (url.host !== "stripe.stub") throw new Error(`unexpected ${url}`);
      if (!up) return new Response(JSON.stringify({ error: { type: "api_error", message: "down" } }), { status: 500 });
      return Response.json({
        id: chargeId,
        object: "charge",
        amount: 2900,
        amount_refunded: 0,
        created: Math.floor((at + 61_000) / 1000),
        currency: "usd",
        customer,
        payment_intent: "pi_api_fault",
        refunded: false,
      });
    });

    const before = await d1Snapshot();
    const failed = await deliver(dispute, { bindings: withApi });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(await d1Snapshot()).toEqual(before);

    up = true;
    expect((await deliver(dispute, { bindings: withApi })).body.outcome).toBe("applied");
    const credit = await env.DB.prepare(
      `SELECT status FROM rewards WHERE user_id = 'api-fault-referrer' AND "trigger" = 'conversion'`,
    ).first();
    expect(credit).toEqual({ status: "pending" });
  });
});
