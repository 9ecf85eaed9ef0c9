import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config";
import { emailHash } from "../../src/domain/email";
import { runScheduled } from "../../src/scheduled";
import {
  api,
  attribute,
  click,
  clickForToken,
  counter,
  countRows,
  createCode,
  flush,
  type Json,
  widgetCall,
  widgetToken,
} from "../helpers";
import {
  chargeRefunded,
  checkoutCompleted,
  deliver,
  disputeEvent,
  invoicePaid,
  newChargeId,
  newCustomerId,
  newDisputeId,
  subscriptionDeleted,
} from "../stripe/fixtures";

const DAY = 86_400_000;

async function rewardTotals() {
  return env.DB.prepare("SELECT count(*) AS entries, sum(amount) AS amount FROM rewards").first();
}

describe("GET /api/users/:userId/export", () => {
  it("returns everything stored about the user", async () => {
    const code = await createCode("export-alice", "exa");
    await attribute({ refereeId: "export-bob", token: await clickForToken(code, { ip: "100.90.0.1" }) });
    const customer = newCustomerId();
    await deliver(checkoutCompleted({ userId: "export-bob", customer, at: Date.now() - DAY }));

    await flush(code);
    const res = await api("/api/users/export-bob/export");
    expect(res.status).toBe(200);
    const data = (await res.json()) as Json & { rewards: unknown[]; stripe: { customers: { customerId: string }[] } };
    expect(data.userId).toBe("export-bob");
    expect(data.referredBy).toMatchObject({ code, referrerId: "export-alice", refereeId: "export-bob" });
    expect(data.rewards).toHaveLength(3);
    expect(data.visitorHashes).toHaveLength(1);
    expect(data.stripe.customers.map((c) => c.customerId)).toEqual([customer]);
    expect(data.clickThatReferredThem).toEqual({
      referralId: (data.referredBy as { id: string }).id,
      clickedAt: expect.any(Number),
      country: null,
      referrerHost: null,
      agentFamily: "chrome",
    });
    const events = data.events as { type: string; payload: Record<string, unknown> }[];
    expect(events.map((event) => event.type)).toContain("referral.signed_up");
    expect(events.every((event) => Object.values(event.payload).includes("export-bob"))).toBe(true);

    const alice = (await (await api("/api/users/export-alice/export")).json()) as Json & { referralsMade: unknown[] };
    expect(alice.code).toMatchObject({ code, userId: "export-alice" });
    expect(alice.referralsMade).toHaveLength(1);
  });

  it("answers 404 for a user nothing is stored about", async () => {
    const res = await api("/api/users/never-seen/export");
    expect(res.status).toBe(404);
    expect(((await res.json()) as Json).error?.code).toBe("user_not_found");
  });
});

describe("DELETE /api/users/:userId", () => {
  it("replaces the user's id everywhere by one tombstone, and keeps amounts and counters", async () => {
    const code = await createCode("erase-carol", "erc");
    await api(`/api/codes/${code}`, { method: "PATCH", body: { displayName: "Carol C." } });
    const token = await clickForToken(code, { ip: "100.91.0.1" });
    await attribute({ refereeId: "erase-dan", token });
    await attribute({ refereeId: "erase-erin", code });
    const customer = newCustomerId();
    await deliver(checkoutCompleted({ userId: "erase-dan", customer, at: Date.now() - DAY }));
    await deliver(invoicePaid({ customer, at: Date.now() - DAY + 60_000 }));
    const ledgerBefore = await rewardTotals();
    const countersBefore = await env.DB.prepare("SELECT signups, conversions FROM referral_codes WHERE code = ?")
      .bind(code)
      .first();

    const res = await api("/api/users/erase-carol", { method: "DELETE" });
    expect(res.status).toBe(200);
    const { tombstone, erased } = (await res.json()) as { tombstone: string; erased: Record<string, number> };
    expect(tombstone).toMatch(/^erased:[0-9a-f-]{36}$/);
    expect(erased).toMatchObject({ code: 1, referralsMade: 2, rewards: 5 });

    for (const [table, column] of [
      ["referral_codes", "user_id"],
      ["referrals", "referrer_id"],
      ["rewards", "user_id"],
      ["user_visitors", "user_id"],
    ]) {
      expect(await countRows(`SELECT count(*) AS n FROM ${table} WHERE ${column} = 'erase-carol'`)).toBe(0);
    }
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referrer_id = ?", tombstone)).toBe(2);
    expect(await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = ?", tombstone)).toBe(5);
    const retired = await env.DB.prepare(
      "SELECT code, display_name AS name, email_hash AS hash FROM referral_codes WHERE user_id = ?",
    )
      .bind(tombstone)
      .first<{ code: string; name: null; hash: null }>();
    expect(retired).toMatchObject({ name: null, hash: null });
    // The code named its owner ("ERC…"): it is retired for a fresh one, with every row that named it.
    expect(retired?.code).toMatch(/^[A-Z0-9]+-[A-Z]{4}[0-9]{4}$/);
    expect(retired?.code).not.toBe(code);
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE code = ?", retired?.code)).toBe(2);
    expect(await rewardTotals()).toEqual(ledgerBefore);
    expect(
      await env.DB.prepare("SELECT signups, conversions FROM referral_codes WHERE code = ?")
        .bind(retired?.code)
        .first(),
    ).toEqual(countersBefore);
    expect(await countRows("SELECT count(*) AS n FROM outbox_events WHERE payload LIKE '%erase-carol%'")).toBe(0);
    // The referees' own events stay, naming the tombstone as their referrer.
    expect(
      await countRows(
        `SELECT count(*) AS n FROM outbox_events
         WHERE type = 'referral.signed_up' AND json_extract(payload, '$.referrerId') = ?
           AND json_extract(payload, '$.refereeId') IN ('erase-dan', 'erase-erin')`,
        tombstone,
      ),
    ).toBe(2);
    expect(
      await countRows("SELECT count(*) AS n FROM outbox_events WHERE json_extract(payload, '$.userId') = 'erase-dan'"),
    ).toBeGreaterThan(0);

    // The old link still leads to the product, but is an unknown code: it counts nothing and refers nobody.
    const late = await clickForToken(code, { ip: "100.91.0.2" });
    expect(await counter(code).counters(code)).toEqual({ clicks: 0, uniqueClicks: 0, botClicks: 0 });
    expect((await attribute({ refereeId: "erase-late", code })).status).toBe(404);
    expect((await attribute({ refereeId: "erase-late", token: late })).status).toBe(404);
    expect((await attribute({ refereeId: "erase-late", code: retired?.code })).status).toBe(404);
    expect((await api("/api/users/erase-carol/export")).status).toBe(404);
    expect((await api("/api/users/erase-carol", { method: "DELETE" })).status).toBe(404);
  });

  it("unlinks a referee from the click that brought them", async () => {
    const code = await createCode("erase-frank", "erf");
    await attribute({ refereeId: "erase-gina", token: await clickForToken(code, { ip: "100.92.0.1" }) });
    expect((await api("/api/users/erase-gina", { method: "DELETE" })).status).toBe(200);
    const referral = await env.DB.prepare(
      "SELECT referee_id AS referee, click_id AS clickId FROM referrals WHERE code = ?",
    )
      .bind(code)
      .first<{ referee: string; clickId: string | null }>();
    expect(referral?.referee).toMatch(/^erased:/);
    expect(referral?.clickId).toBeNull();
    expect(await countRows("SELECT count(*) AS n FROM user_visitors WHERE user_id = 'erase-gina'")).toBe(0);
  });
});

describe("retention", () => {
  it("purges D1 click rows past CLICK_LOG_HOT_DAYS and keeps the aggregates they fed", async () => {
    const code = await createCode("retention-owner", "ret");
    for (let i = 0; i < 3; i++) await click(code, { ip: `100.93.0.${i}` });
    await flush(code);
    const aggregates = await env.DB.prepare("SELECT sum(clicks) AS clicks FROM code_daily WHERE code = ?")
      .bind(code)
      .first();
    await env.DB.prepare(
      "UPDATE clicks SET clicked_at = clicked_at - ? WHERE code = ? AND rowid IN (SELECT rowid FROM clicks WHERE code = ? LIMIT 2)",
    )
      .bind(91 * DAY, code, code)
      .run();

    const { purged } = await runScheduled(env, Date.now());

    expect(purged.clicks).toBeGreaterThanOrEqual(2);
    expect(await countRows("SELECT count(*) AS n FROM clicks WHERE code = ?", code)).toBe(1);
    expect(
      await env.DB.prepare("SELECT sum(clicks) AS clicks FROM code_daily WHERE code = ?").bind(code).first(),
    ).toEqual(aggregates);
    expect(await countRows("SELECT clicks AS n FROM referral_codes WHERE code = ?", code)).toBe(3);
  });

  it("keeps only the latest version of each Stripe guard, and events still apply after", async () => {
    const code = await createCode("guard-owner", "grd");
    await attribute({ refereeId: "guard-referee", code });
    const customer = newCustomerId();
    await deliver(checkoutCompleted({ userId: "guard-referee", customer, at: Date.now() - 3 * DAY }));
    await deliver(invoicePaid({ customer, at: Date.now() - 2 * DAY }));
    await deliver(invoicePaid({ customer, at: Date.now() - DAY, billingReason: "subscription_cycle" }));
    const subject = `customer:${customer}`;
    expect(await countRows("SELECT count(*) AS n FROM stripe_guards WHERE subject = ?", subject)).toBe(3);

    const { purged } = await runScheduled(env, Date.now());

    expect(purged.stripeGuards).toBeGreaterThanOrEqual(4);
    expect(
      await env.DB.prepare("SELECT subject, version FROM stripe_guards WHERE subject IN (?, ?) ORDER BY subject")
        .bind(subject, "user:guard-referee")
        .all(),
    ).toMatchObject({
      results: [
        { subject, version: 3 },
        { subject: "user:guard-referee", version: 3 },
      ],
    });
    expect(
      (await deliver(invoicePaid({ customer, at: Date.now(), billingReason: "subscription_cycle" }))).body,
    ).toMatchObject({
      outcome: "applied",
    });
    expect(await countRows("SELECT max(version) AS n FROM stripe_guards WHERE subject = ?", subject)).toBe(4);
    expect(await countRows("SELECT count(*) AS n FROM stripe_payments WHERE customer_id = ?", customer)).toBe(3);
  });

  it("keeps a flush's marker a day, long past any retry of that flush, then drops it", async () => {
    const code = await createCode("marker-owner", "mrk");
    await click(code, { ip: "100.94.0.9" });
    await flush(code);
    const markers = () => countRows("SELECT count(*) AS n FROM click_flushes WHERE counter LIKE 'bucket:%'");
    const before = await markers();
    expect(before).toBeGreaterThanOrEqual(1);
    await runScheduled(env, Date.now() + DAY / 2);
    expect(await markers()).toBe(before);
    await runScheduled(env, Date.now() + DAY + 60_000);
    expect(await markers()).toBe(0);
  });

  it("drops visitor hashes once their day has passed", async () => {
    const code = await createCode("hash-owner", "hsh");
    await attribute({ refereeId: "hash-referee", token: await clickForToken(code, { ip: "100.94.0.1" }) });
    expect(await countRows("SELECT count(*) AS n FROM user_visitors WHERE user_id = 'hash-referee'")).toBe(1);
    await runScheduled(env, Date.now() + 3 * DAY);
    expect(await countRows("SELECT count(*) AS n FROM user_visitors WHERE user_id = 'hash-referee'")).toBe(0);
  });
});

interface Needle {
  label: string;
  value: string;
  /** Case matters for the code's name part: only codes are upper-case, and random code letters never hold an I or an O. */
  caseSensitive: boolean;
}

/**
 * Every row of every table D1 holds for the service (whatever its columns),
 * with every value read as text, that contains one of the needles. Tables
 * come from sqlite_master, so a table added later is scanned too.
 */
async function scanForNeedles(needles: Needle[]): Promise<string[]> {
  const { results: tables } = await env.DB.prepare(
    `SELECT name FROM sqlite_master
     WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'
       AND name NOT LIKE 'd1\\_%' ESCAPE '\\'
     ORDER BY name`,
  ).all<{ name: string }>();
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(["referral_codes", "stripe_guards", "rewards"]));
  const found: string[] = [];
  for (const { name: table } of tables) {
    const { results: columns } = await env.DB.prepare("SELECT name FROM pragma_table_info(?)")
      .bind(table)
      .all<{ name: string }>();
    for (const { name: column } of columns) {
      for (const needle of needles) {
        const value = `CAST("${column}" AS TEXT)`;
        const where = needle.caseSensitive ? `instr(${value}, ?1) > 0` : `instr(lower(${value}), lower(?1)) > 0`;
        const { results } = await env.DB.prepare(`SELECT ${value} AS v FROM "${table}" WHERE ${where}`)
          .bind(needle.value)
          .all<{ v: string }>();
        for (const row of results) found.push(`${table}.${column} holds the ${needle.label}: ${row.v}`);
      }
    }
  }
  return found;
}

/** Every row of every table, to compare the whole database before and after. */
async function dumpDatabase(): Promise<Record<string, unknown[]>> {
  const { results: tables } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name NOT LIKE '_cf%' ORDER BY name",
  ).all<{ name: string }>();
  const dump: Record<string, unknown[]> = {};
  for (const { name } of tables)
    dump[name] = (await env.DB.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all()).results;
  return dump;
}

describe("erasing a user who went through every path", () => {
  it("leaves their id, their code's name part, their name and their email nowhere in D1", async () => {
    const userId = "olivia-erase-all";
    const email = "Olivia.Everywhere@example.com";
    const displayName = "Olivia Everywhere";
    const now = Date.now();

    // Their own code, with an email for self-referral checks and a name on the leaderboard.
    const res = await api("/api/codes", { body: { userId, name: "Olivia", email } });
    expect(res.status).toBe(201);
    const code = ((await res.json()) as { code: string }).code;
    expect(code).toMatch(/-OLIV[0-9]{4}$/);
    expect((await api(`/api/codes/${code}`, { method: "PATCH", body: { displayName } })).status).toBe(200);

    // Refused attributions naming them: to their own code, and a referee with their email.
    expect((await attribute({ refereeId: userId, code })).status).toBe(422);
    expect((await attribute({ refereeId: "ea-same-email", code, email })).status).toBe(422);

    // Referred themselves, through a click on someone else's link; then they pay, get refunded, dispute.
    const referrerCode = await createCode("ea-mallory", "Mallory");
    await attribute({ refereeId: userId, token: await clickForToken(referrerCode, { ip: "100.95.0.1" }) });
    const customer = newCustomerId();
    const [firstCharge, secondCharge] = [newChargeId(), newChargeId()];
    const dispute = newDisputeId();
    const at = now - 20 * DAY;
    const delivered = [
      checkoutCompleted({ userId, customer, at }),
      invoicePaid({ customer, at: at + 60_000, paymentIntent: "pi_erase_all_first" }),
      invoicePaid({ customer, at: at + 2 * DAY, billingReason: "subscription_cycle" }),
      chargeRefunded({
        customer,
        chargeId: firstCharge,
        chargedAt: at + 61_000,
        at: at + 3 * DAY,
        amountRefunded: 2900,
        paymentIntent: "pi_erase_all_first",
      }),
      chargeRefunded({
        customer,
        chargeId: secondCharge,
        chargedAt: at + 2 * DAY,
        at: at + 4 * DAY,
        amountRefunded: 100,
      }),
      disputeEvent("charge.dispute.created", {
        disputeId: dispute,
        chargeId: secondCharge,
        status: "needs_response",
        at: at + 5 * DAY,
      }),
      disputeEvent("charge.dispute.closed", {
        disputeId: dispute,
        chargeId: secondCharge,
        status: "lost",
        at: at + 6 * DAY,
      }),
      subscriptionDeleted({ customer, at: at + 7 * DAY }),
    ];
    for (const event of delivered) expect((await deliver(event)).status).toBe(200);

    // They refer five people (a milestone), one of whom pays (a conversion reward for them).
    for (let i = 1; i <= 5; i++) {
      const token = await clickForToken(code, { ip: `100.95.1.${i}` });
      expect((await attribute({ refereeId: `ea-referee-${i}`, token })).status).toBe(201);
    }
    const refereeCustomer = newCustomerId();
    await deliver(checkoutCompleted({ userId: "ea-referee-1", customer: refereeCustomer, at: now - DAY }));
    await deliver(invoicePaid({ customer: refereeCustomer, at: now - DAY + 60_000 }));
    // A referee arriving from their own browser is refused and recorded.
    const sneaky = await clickForToken(code, { ip: "100.95.0.1" });
    expect((await attribute({ refereeId: "ea-sneaky", token: sneaky })).status).toBe(422);
    await flush(code);
    // One more click stays buffered in the counter at erasure time.
    await click(code, { ip: "100.95.2.1" });

    // Their dashboard, through widget tokens.
    const widget = await widgetToken(userId);
    for (const path of ["/widgets/v1/me", "/widgets/v1/me/timeseries", "/widgets/v1/leaderboard"]) {
      expect((await widgetCall(path, widget)).status).toBe(200);
    }
    expect((await api(`/api/users/${userId}/entitlements`)).status).toBe(200);

    // Everything the paths should have stored about them is there before erasure.
    expect(
      await countRows("SELECT count(*) AS n FROM rewards WHERE instr(dedupe_key, ?) = 1", `milestone:${userId}:`),
    ).toBe(2);
    expect(
      await countRows("SELECT count(*) AS n FROM rewards WHERE user_id = ? AND \"trigger\" = 'conversion'", userId),
    ).toBe(1);
    expect(
      await countRows("SELECT count(*) AS n FROM stripe_guards WHERE subject = ?", `user:${userId}`),
    ).toBeGreaterThan(0);
    expect(await countRows("SELECT count(*) AS n FROM blocked_attributions WHERE code = ?", code)).toBe(3);
    expect(await countRows("SELECT count(*) AS n FROM stripe_disputes WHERE user_id = ?", userId)).toBe(1);
    const needles: Needle[] = [
      { label: "user id", value: userId, caseSensitive: false },
      { label: "code's name part", value: "OLIV", caseSensitive: true },
      { label: "old code", value: code, caseSensitive: false },
      { label: "display name", value: displayName, caseSensitive: false },
      { label: "email", value: email, caseSensitive: false },
      { label: "email hash", value: await emailHash(getConfig(env).visitorSalt, email), caseSensitive: false },
    ];
    // The scan sees them: each path left its mark where it should.
    const places = new Set((await scanForNeedles(needles)).map((finding) => finding.split(": ")[0]));
    expect([...places]).toEqual(
      expect.arrayContaining([
        "referral_codes.user_id holds the user id",
        "referral_codes.code holds the code's name part",
        "referral_codes.display_name holds the display name",
        "referral_codes.email_hash holds the email hash",
        "referrals.referrer_id holds the user id",
        "referrals.referee_id holds the user id",
        "referrals.code holds the code's name part",
        "clicks.code holds the code's name part",
        "code_daily.code holds the code's name part",
        "blocked_attributions.referee_id holds the user id",
        "blocked_attributions.code holds the code's name part",
        "rewards.user_id holds the user id",
        "rewards.dedupe_key holds the user id",
        "outbox_events.payload holds the user id",
        "outbox_events.payload holds the code's name part",
        "user_visitors.user_id holds the user id",
        "stripe_customers.user_id holds the user id",
        "stripe_payments.user_id holds the user id",
        "stripe_charges.user_id holds the user id",
        "stripe_disputes.user_id holds the user id",
        "stripe_guards.subject holds the user id",
      ]),
    );

    const erased = await api(`/api/users/${userId}`, { method: "DELETE" });
    expect(erased.status).toBe(200);
    const { tombstone } = (await erased.json()) as { tombstone: string };
    // The flush that would have carried the buffered click, and the cron, bring nothing back.
    await flush(code);
    await runScheduled(env, Date.now());

    expect(await scanForNeedles(needles)).toEqual([]);
    // The counter objects forgot the old code too.
    expect(await counter(code).counters(code)).toEqual({ clicks: 0, uniqueClicks: 0, botClicks: 0 });
    expect(await counter(code).pendingClicks(code)).toBe(0);
    // The tombstone owns what they had; milestone keys still dedupe, under the tombstone.
    expect(
      await countRows("SELECT count(*) AS n FROM rewards WHERE instr(dedupe_key, ?) = 1", `milestone:${tombstone}:`),
    ).toBe(2);
    expect(await countRows("SELECT count(*) AS n FROM referrals WHERE referrer_id = ?", tombstone)).toBe(5);

    // Export still works for the people on either side of them, naming the tombstone.
    const mallory = await api("/api/users/ea-mallory/export");
    expect(mallory.status).toBe(200);
    expect(((await mallory.json()) as { referralsMade: { refereeId: string }[] }).referralsMade).toEqual([
      expect.objectContaining({ refereeId: tombstone }),
    ]);
    const referee = await api("/api/users/ea-referee-1/export");
    expect(referee.status).toBe(200);
    const referredBy = ((await referee.json()) as { referredBy: { referrerId: string; code: string } }).referredBy;
    expect(referredBy.referrerId).toBe(tombstone);
    expect(referredBy.code).not.toBe(code);

    // Erasing again finds nothing and changes nothing.
    const before = await dumpDatabase();
    const again = await api(`/api/users/${userId}`, { method: "DELETE" });
    expect(again.status).toBe(404);
    expect(((await again.json()) as Json).error?.code).toBe("user_not_found");
    expect((await api(`/api/users/${userId}/export`)).status).toBe(404);
    expect(await dumpDatabase()).toEqual(before);
  });
});
