import { createExecutionContext, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { counterStub } from "../src/durable-objects/code-counter";
import worker from "../src/index";

export const API_KEY = "test-api-key-0123456789";
export const BROWSER_UA =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
export const ORIGIN = "https://refer.example.com";

/**
 * A request through the Worker's entry point, returning once the work it left
 * in the background (`waitUntil`, such as recording a click) has finished too,
 * so tests can look at what was stored.
 */
export function call(path: string, init: RequestInit = {}, bindings: Env = env): Promise<Response> {
  return callHost(ORIGIN, path, init, bindings);
}

/**
 * A request as it arrives for another host: the runtime builds the URL from
 * the Host header, so a forged Host is a forged origin in `request.url`.
 */
export async function callHost(
  origin: string,
  path: string,
  init: RequestInit = {},
  bindings: Env = env,
): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request(`${origin}${path}`, { redirect: "manual", ...init });
  request.headers.set("host", new URL(origin).host);
  const res = await worker.fetch(request, bindings, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** An authenticated JSON call to the API. */
export function api(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  return call(path, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: {
      authorization: `Bearer ${API_KEY}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

export interface ClickOptions {
  method?: string;
  userAgent?: string;
  ip?: string;
  headers?: Record<string, string>;
}

/** Follows a share link as a browser (or as whatever the options say). */
export function click(code: string, options: ClickOptions = {}, bindings: Env = env): Promise<Response> {
  return call(
    `/r/${code}`,
    {
      method: options.method ?? "GET",
      headers: {
        "user-agent": options.userAgent ?? BROWSER_UA,
        "cf-connecting-ip": options.ip ?? "203.0.113.7",
        ...options.headers,
      },
    },
    bindings,
  );
}

export async function createCode(userId: string, name?: string): Promise<string> {
  const res = await api("/api/codes", { body: { userId, name } });
  if (res.status !== 201 && res.status !== 200) throw new Error(`creating a code failed: ${res.status}`);
  return ((await res.json()) as { code: string }).code;
}

export function counter(code: string, shard = 0) {
  return counterStub(env.CODE_COUNTER, code, shard);
}

/** Runs the alarm of the code's counter until its buffer is empty (each run flushes one batch). */
export async function flush(code: string, shard = 0): Promise<void> {
  const stub = counter(code, shard);
  for (let i = 0; i < 100 && (await stub.pendingClicks()) > 0; i++) await runDurableObjectAlarm(stub);
}

/** Flushes every counter object that may hold clicks (those listed in D1), until each buffer is empty. */
export async function flushAll(): Promise<void> {
  const listed = await env.DB.prepare("SELECT counter FROM click_counters").all<{ counter: string }>();
  for (const { counter: name } of listed.results) {
    const stub = env.CODE_COUNTER.getByName(name);
    for (let i = 0; i < 100 && (await stub.pendingClicks()) > 0; i++) await runDurableObjectAlarm(stub);
  }
}

/** The value of a cookie in a response's Set-Cookie, with its attributes. */
export function readSetCookie(res: Response, name: string): { value: string; attributes: string[] } | undefined {
  const header = res.headers.getSetCookie().find((cookie) => cookie.startsWith(`${name}=`));
  if (!header) return undefined;
  const [pair = "", ...attributes] = header.split(";").map((part) => part.trim());
  return { value: pair.slice(name.length + 1), attributes };
}

export async function countRows(sql: string, ...params: unknown[]): Promise<number> {
  const row = await env.DB.prepare(sql)
    .bind(...params)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** Clicks a share link as a browser and returns the attribution cookie it set. */
export async function clickForToken(code: string, options: ClickOptions = {}): Promise<string> {
  const cookie = readSetCookie(await click(code, options), "ref_token");
  if (!cookie) throw new Error(`no attribution cookie for ${code}`);
  return cookie.value;
}

export type Json = Record<string, unknown> & { error?: { code: string; message: string; field?: string } };

export async function attribute(body: Record<string, unknown>): Promise<{ status: number; body: Json }> {
  const res = await api("/api/attributions", { body });
  return { status: res.status, body: (await res.json()) as Json };
}

/** A widget token for a user, from the API as the host backend would get it. */
export async function widgetToken(userId: string): Promise<string> {
  const res = await api("/api/widget-tokens", { body: { userId } });
  if (res.status !== 201) throw new Error(`widget token: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

/** A widget API call as a dashboard in a browser makes it. */
export function widgetCall(path: string, token: string | null, headers: Record<string, string> = {}) {
  return call(path, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
}

/**
 * Registers a fixed code, as `POST /api/codes` would have created it, for tests
 * that need particular codes (such as two that share a counter object).
 */
export async function registerCode(code: string, userId: string): Promise<void> {
  await env.DB.prepare("INSERT INTO referral_codes (code, user_id, created_at) VALUES (?, ?, ?)")
    .bind(code, userId, Date.now())
    .run();
  await counter(code).register(code);
}

/**
 * Rate limit windows are fixed spans of the wall clock (minutes, in
 * production as locally), so a test that fills a budget could straddle two
 * windows and see the budget twice. It starts with `needMs` left in the
 * current window, waiting for the next one when less is left.
 */
export async function withinOneRateWindow(needMs = 20_000, periodMs = 60_000): Promise<void> {
  const left = periodMs - (Date.now() % periodMs);
  if (left < needMs) await scheduler.wait(left + 100);
}
