import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, setCookie } from "hono/cookie";
import { z } from "zod";
import {
  checkManualGrant,
  grantManualReward,
  holdOrRelease,
  type ManualGrant,
  revocationOf,
  revokeReward,
} from "../admin/actions";
import { keyFingerprint, SESSION_COOKIE, SESSION_TTL_MS, signSession } from "../admin/auth";
import { daysOf, decodeCursor, encodeCursor, parseRange } from "../admin/cursor";
import { MissingPage, type PageContext } from "../admin/layout";
import { type AdminEnv, consoleEnabled, consoleHeaders, requireCsrf, requireOperator } from "../admin/middleware";
import { ConfirmGrant, ConfirmRewardAction, type RewardAction } from "../admin/pages/action";
import { DeliveriesPage } from "../admin/pages/deliveries";
import { FraudPage } from "../admin/pages/fraud";
import { LoginPage } from "../admin/pages/login";
import { OverviewPage } from "../admin/pages/overview";
import { ReferralPage } from "../admin/pages/referral";
import { ReferrerPage, ReferrersPage } from "../admin/pages/referrers";
import { RATE_LIMITS, SettingsPage } from "../admin/pages/settings";
import {
  auditOf,
  blockedReasons,
  findReferrerByUser,
  heldStripeEvents,
  latestReferrals,
  listBlocked,
  listReferrers,
  makeDueNow,
  programDays,
  referralStory,
  referralsOf,
  rewardCountsOf,
  unprocessableStripeEvents,
} from "../admin/queries";
import { type DeliveryState, listEvents } from "../db/queries/outbox";
import { findReward, listRewards } from "../db/queries/rewards";
import { matchesAny, sha256Hex } from "../domain/crypto";
import { outboxStub } from "../durable-objects/event-outbox";
import { ApiError } from "../errors";
import { overLimit } from "../middleware/limits";
import { getCodeWithStats } from "../services/codes";
import {
  decodeCursor as decodeLedgerCursor,
  encodeCursor as encodeLedgerCursor,
  entitlementsOf,
} from "../services/rewards";
import { programStats } from "../services/widgets";
import { ClickLogQuery, clickLogResponse } from "./clicks";

/**
 * The operator's console: server-rendered pages under /admin. Reads go
 * through the same services as the API; actions through the ledger's rules.
 */

const FORM_BODY_LIMIT = 16 * 1024;

// biome-ignore lint/suspicious/noExplicitAny: any path and input of this router
type C = Context<AdminEnv, any, any>;

const pageContext = (c: C): PageContext => ({
  nonce: c.var.nonce,
  actor: c.var.operator?.actor,
  csrf: c.var.csrf,
  path: c.req.path,
  signOut: !c.var.config.access,
});

const readDeps = (c: C) => ({ db: c.var.db, config: c.var.config, counters: c.env.CODE_COUNTER });

export const admin = new Hono<AdminEnv>();

admin.use("*", consoleHeaders, consoleEnabled);
admin.use(
  "*",
  bodyLimit({
    maxSize: FORM_BODY_LIMIT,
    onError: () => {
      throw new ApiError(413, "payload_too_large", `The form is larger than ${FORM_BODY_LIMIT} bytes`);
    },
  }),
);

admin.get("/login", (c) => {
  if (c.var.config.access) return c.redirect("/admin", 303);
  return c.html(<LoginPage ctx={pageContext(c)} />);
});

admin.post("/login", async (c) => {
  const config = c.var.config;
  if (config.access) return c.redirect("/admin", 303);
  const ctx = pageContext(c);
  const client = (await sha256Hex(`admin-login\n${c.req.header("cf-connecting-ip") ?? "unknown"}`)).slice(0, 32);
  if (await overLimit(c.env.ADMIN_LOGIN_LIMITER, client)) {
    c.header("Retry-After", "60");
    return c.html(<LoginPage ctx={ctx} error="Too many attempts. Wait a minute, then try again." />, 429);
  }
  const form = await c.req.parseBody();
  const key = typeof form.key === "string" ? form.key.trim() : "";
  if (key === "" || !(await matchesAny(key, config.adminKeys))) {
    return c.html(<LoginPage ctx={ctx} error="That key is not one of the admin keys." />, 401);
  }
  const actor = await keyFingerprint(key);
  setCookie(c, SESSION_COOKIE, await signSession(config, actor, Date.now() + SESSION_TTL_MS), {
    path: "/admin",
    httpOnly: true,
    secure: true,
    sameSite: "Strict",
    maxAge: SESSION_TTL_MS / 1000,
  });
  return c.redirect("/admin", 303);
});

admin.use("*", requireOperator, requireCsrf);

admin.post("/logout", (c) => {
  deleteCookie(c, SESSION_COOKIE, { path: "/admin", secure: true, httpOnly: true, sameSite: "Strict" });
  return c.redirect(c.var.config.access ? "/admin" : "/admin/login", 303);
});

admin.get("/", async (c) => {
  const { from, to } = parseRange(c.req.query(), Date.now());
  const deps = readDeps(c);
  const [stats, stored, latest] = await Promise.all([
    programStats(deps, from, to),
    programDays(deps.db, from, to),
    latestReferrals(deps.db, 10),
  ]);
  const byDay = new Map(stored.map((row) => [row.day, row]));
  const days = daysOf(from, to).map((day) => ({
    day,
    clicks: byDay.get(day)?.clicks ?? 0,
    signups: byDay.get(day)?.signups ?? 0,
    conversions: byDay.get(day)?.conversions ?? 0,
  }));
  return c.html(<OverviewPage ctx={pageContext(c)} stats={stats} days={days} latest={latest} />);
});

const PAGE = 25;

admin.get("/referrers", async (c) => {
  const q = (c.req.query("q") ?? "").slice(0, 128);
  const cursor = c.req.query("cursor");
  const key = decodeCursor(cursor);
  const rows = await listReferrers(c.var.db, PAGE + 1, q, key && { signups: key.at, code: key.id });
  const shown = rows.slice(0, PAGE);
  const last = shown.at(-1);
  const counts = await rewardCountsOf(
    c.var.db,
    shown.map((row) => row.userId),
  );
  return c.html(
    <ReferrersPage
      ctx={pageContext(c)}
      q={q}
      cursor={cursor}
      rows={shown.map((row) => ({ ...row, granted: 0, active: 0, ...counts.get(row.userId) }))}
      next={rows.length > PAGE && last ? encodeCursor({ at: last.signups, id: last.code }) : null}
    />,
  );
});

/** Everything the referrer page shows; also what an action's confirmation returns to. */
async function referrerView(c: C, userId: string, notice?: string) {
  const deps = readDeps(c);
  const referralsCursor = c.req.query("referrals");
  const ledgerCursor = c.req.query("ledger");
  const row = await findReferrerByUser(deps.db, userId);
  const [code, referrals, ledger, entitlements, audit] = await Promise.all([
    row ? getCodeWithStats(deps, row.code) : undefined,
    referralsOf(deps.db, userId, PAGE + 1, decodeCursor(referralsCursor)),
    listRewards(deps.db, userId, PAGE + 1, ledgerCursor ? decodeLedgerCursor(ledgerCursor) : undefined),
    entitlementsOf(deps, userId, Date.now()),
    auditOf(deps.db, userId, 50),
  ]);
  const lastReferral = referrals.slice(0, PAGE).at(-1);
  const lastReward = ledger.slice(0, PAGE).at(-1);
  return {
    userId,
    code,
    referrals: referrals.slice(0, PAGE),
    referralsCursor,
    referralsNext:
      referrals.length > PAGE && lastReferral
        ? encodeCursor({ at: lastReferral.referral.signedUpAt, id: lastReferral.referral.id })
        : null,
    ledger: ledger.slice(0, PAGE),
    ledgerCursor,
    ledgerNext: ledger.length > PAGE && lastReward ? encodeLedgerCursor(lastReward) : null,
    entitlements,
    audit,
    rewardTypes: Object.keys(c.var.config.rules.rewardTypes),
    notice,
  };
}

admin.get("/referrers/:userId", async (c) => {
  const userId = c.req.param("userId");
  const view = await referrerView(c, userId);
  if (!view.code && view.ledger.length === 0 && view.referrals.length === 0) {
    return c.html(
      <MissingPage
        ctx={pageContext(c)}
        title="No such referrer"
        message={`Nothing is stored for the user id “${userId}”: no code, no referrals, no ledger entries.`}
      />,
      404,
    );
  }
  const notice = c.req.query("done");
  return c.html(<ReferrerPage ctx={pageContext(c)} view={{ ...view, notice: notice ? DONE[notice] : undefined }} />);
});

// One day of a code's raw clicks, streamed from the R2 click log as GET /api/clicks does.
admin.get("/clicks", async (c) => {
  const parsed = ClickLogQuery.safeParse(c.req.query());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0] ?? "day");
    throw new ApiError(400, "invalid_request", `${field}: ${issue?.message ?? "invalid"}`, field);
  }
  return clickLogResponse(c.env.CLICK_LOG, parsed.data.day, parsed.data.code);
});

const DONE: Record<string, string> = {
  revoke: "The reward was revoked and the action recorded.",
  hold: "The reward is on hold and the action recorded.",
  release: "The reward was released and the action recorded.",
  grant: "The reward was granted and the action recorded.",
};

admin.get("/referrals/:id", async (c) => {
  const story = await referralStory(c.var.db, c.req.param("id"));
  if (!story) {
    return c.html(
      <MissingPage
        ctx={pageContext(c)}
        title="No such referral"
        message="No referral has this id. Open one from a referrer's page."
      />,
      404,
    );
  }
  const clawbackDays = Math.round(c.var.config.clawbackMs / 86_400_000);
  return c.html(<ReferralPage ctx={pageContext(c)} story={story} clawbackDays={clawbackDays} />);
});

const REWARD_ACTIONS = new Set<RewardAction>(["revoke", "hold", "release"]);

function rewardAction(c: C): RewardAction {
  const action = c.req.param("action") as RewardAction;
  if (!REWARD_ACTIONS.has(action)) throw new ApiError(404, "not_found", `No action ${action}`);
  return action;
}

/** A ledger action's note: required, so every change says why. */
function noteOf(form: Record<string, unknown>): string | null {
  const note = typeof form.note === "string" ? form.note.trim() : "";
  return note.length >= 3 && note.length <= 500 ? note : null;
}

/** Lets the outbox know there may be new events, after the response (as the API's writes do). */
function wakeOutbox(c: C) {
  c.executionCtx.waitUntil(
    outboxStub(c.env.EVENT_OUTBOX)
      .poke()
      .catch((error) => console.warn("could not wake the event outbox; the cron will", error)),
  );
}

admin.get("/rewards/:id/:action", async (c) => {
  const action = rewardAction(c);
  const reward = await findReward(c.var.db, c.req.param("id"));
  if (!reward) {
    return c.html(
      <MissingPage ctx={pageContext(c)} title="No such reward" message="No ledger entry has this id." />,
      404,
    );
  }
  return c.html(
    <ConfirmRewardAction
      ctx={pageContext(c)}
      action={action}
      reward={reward}
      clawback={revocationOf(reward) === "clawback"}
    />,
  );
});

admin.post("/rewards/:id/:action", async (c) => {
  const action = rewardAction(c);
  const id = c.req.param("id");
  const form = await c.req.parseBody();
  const reward = await findReward(c.var.db, id);
  if (!reward) throw new ApiError(404, "reward_not_found", `No reward ${id}`);
  const note = noteOf(form);
  const again = (error: string, status: 400 | 409) =>
    c.html(
      <ConfirmRewardAction
        ctx={pageContext(c)}
        action={action}
        reward={reward}
        clawback={revocationOf(reward) === "clawback"}
        note={typeof form.note === "string" ? form.note : ""}
        error={error}
      />,
      status,
    );
  if (form.confirm !== "yes") return again("Confirm the action with the button below.", 400);
  if (!note) return again("Write a note of 3 to 500 characters: it is kept in the audit log.", 400);
  const who = { actor: c.var.operator.actor, note };
  try {
    if (action === "revoke") await revokeReward(c.var.db, id, who, Date.now());
    else await holdOrRelease(c.var.db, id, action, who, Date.now());
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) return again(error.message, 409);
    throw error;
  }
  wakeOutbox(c);
  return c.redirect(`/admin/referrers/${encodeURIComponent(reward.userId)}?done=${action}`, 303);
});

const grantForm = z.object({
  type: z.string().min(1).max(32),
  amount: z.coerce.number().int().min(1).max(1_000_000),
  validDays: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value.trim() === "" ? null : Number(value)))
    .pipe(z.number().int().min(1).max(3650).nullable()),
  currency: z
    .string()
    .optional()
    .transform((value) => value?.trim().toLowerCase() || null)
    .pipe(
      z
        .string()
        .regex(/^[a-z]{3}$/)
        .nullable(),
    ),
  feature: z
    .string()
    .optional()
    .transform((value) => value?.trim() || null)
    .pipe(z.string().max(64).nullable()),
});

admin.post("/referrers/:userId/grant", async (c) => {
  const userId = c.req.param("userId");
  const form = await c.req.parseBody();
  const parsed = grantForm.safeParse(form);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ApiError(400, "invalid_request", `${issue?.path.join(".")}: ${issue?.message}`, String(issue?.path[0]));
  }
  const grant: ManualGrant = checkManualGrant(c.var.config.rules, { userId, ...parsed.data });
  const noteText = typeof form.note === "string" ? form.note : "";
  const note = noteOf(form);
  if (form.confirm !== "yes" || !note) {
    const error =
      form.confirm === "yes" ? "Write a note of 3 to 500 characters: it is kept in the audit log." : undefined;
    return c.html(<ConfirmGrant ctx={pageContext(c)} grant={grant} note={noteText} error={error} />, error ? 400 : 200);
  }
  await grantManualReward(c.var.db, grant, { actor: c.var.operator.actor, note }, Date.now());
  wakeOutbox(c);
  return c.redirect(`/admin/referrers/${encodeURIComponent(userId)}?done=grant`, 303);
});

/** The page of `limit` rows out of `limit + 1` read, and the cursor of the next page, if there is one. */
function paged<T>(rows: T[], key: (row: T) => { at: number; id: string }) {
  const shown = rows.slice(0, PAGE);
  const last = shown.at(-1);
  return { shown, next: rows.length > PAGE && last ? encodeCursor(key(last)) : null };
}

admin.get("/fraud", async (c) => {
  const reason = c.req.query("reason")?.slice(0, 64) || undefined;
  const cursor = c.req.query("cursor");
  const [rows, reasons] = await Promise.all([
    listBlocked(c.var.db, PAGE + 1, reason, decodeCursor(cursor)),
    blockedReasons(c.var.db),
  ]);
  const { shown, next } = paged(rows, (row) => ({ at: row.createdAt, id: row.id }));
  return c.html(
    <FraudPage
      ctx={pageContext(c)}
      rows={shown}
      reasons={reasons.map((r) => r.reason)}
      reason={reason}
      cursor={cursor}
      next={next}
    />,
  );
});

const STATES = new Set<DeliveryState>(["pending", "failing", "delivered"]);

admin.get("/deliveries", async (c) => {
  const query = c.req.query();
  const state = STATES.has(query.state as DeliveryState) ? (query.state as DeliveryState) : undefined;
  const before = decodeCursor(query.cursor);
  const [events, held, unprocessable] = await Promise.all([
    listEvents(c.var.db, PAGE + 1, before?.at, state),
    heldStripeEvents(c.var.db, PAGE + 1, decodeCursor(query.held)),
    unprocessableStripeEvents(c.var.db, PAGE + 1, decodeCursor(query.unprocessable)),
  ]);
  const outbox = paged(events, (e) => ({ at: e.sequence, id: "outbox" }));
  const heldPage = paged(held, (h) => ({ at: h.receivedAt, id: h.eventId }));
  const badPage = paged(unprocessable, (u) => ({ at: u.processedAt, id: u.id }));
  return c.html(
    <DeliveriesPage
      ctx={pageContext(c)}
      events={outbox.shown}
      state={state}
      cursor={query.cursor}
      next={outbox.next}
      held={heldPage.shown}
      heldCursor={query.held}
      heldNext={heldPage.next}
      unprocessable={badPage.shown}
      unprocessableCursor={query.unprocessable}
      unprocessableNext={badPage.next}
      eventsUrl={c.var.config.eventsUrl}
      notice={query.done === "retry" ? "The event is due now; the outbox was woken to deliver it." : undefined}
    />,
  );
});

admin.post("/deliveries/:sequence/retry", async (c) => {
  const sequence = Number(c.req.param("sequence"));
  if (!Number.isSafeInteger(sequence) || sequence < 1) throw new ApiError(404, "not_found", "No such event");
  if (!(await makeDueNow(c.var.db, sequence, Date.now()))) {
    throw new ApiError(409, "conflict", `Event ${sequence} is delivered already, or does not exist`);
  }
  wakeOutbox(c);
  return c.redirect("/admin/deliveries?done=retry", 303);
});

admin.get("/settings", (c) => {
  const bindings = c.env as unknown as Record<string, unknown>;
  const bound = Object.fromEntries(
    [...RATE_LIMITS.map((l) => l.binding), "CLICK_LOG"].map((name) => [name, bindings[name] !== undefined]),
  );
  return c.html(<SettingsPage ctx={pageContext(c)} config={c.var.config} bound={bound} />);
});
