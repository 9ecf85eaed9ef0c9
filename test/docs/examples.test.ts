/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";
import { api, BROWSER_UA, call, readSetCookie, widgetCall } from "../helpers";
import { checkoutCompleted, deliver, invoicePaid } from "../stripe/fixtures";

/** The README and every guide, as text (Vite inlines them at build time). */
const pages = import.meta.glob<string>(["../../README.md", "../../docs/*.md"], {
  query: "?raw",
  import: "default",
  eager: true,
});

interface Example {
  page: string;
  key: string;
  body: unknown;
}

/** Every JSON block preceded by `<!-- response: STATUS METHOD PATH -->`. */
function documentedExamples(): Example[] {
  const found: Example[] = [];
  for (const [page, text] of Object.entries(pages))
    for (const match of text.matchAll(/<!-- response: (.+?) -->\n```json\n([\s\S]*?)\n```/g))
      found.push({ page, key: match[1] as string, body: JSON.parse(match[2] as string) });
  return found;
}

/**
 * Values that differ on every run (ids, times, codes, tokens, origins) become
 * their kind, so a documented example and a live answer compare on everything
 * else: field names, the order of lists, statuses, amounts, rules.
 */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, normalise(inner)]));
  if (typeof value !== "string") return value;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value)) return "<time>";
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return "<day>";
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) return "<uuid>";
  if (/^evt_[0-9a-f]{32}$/.test(value)) return "<event id>";
  if (/^[A-Z0-9]{1,12}-[A-Z0-9]+$/.test(value)) return "<code>";
  if (/^https?:\/\/[^/]+\/r\/[A-Z0-9-]+$/.test(value)) return "<share link>";
  if (/^eyJ[\w-]+\.[\w-]+$/.test(value)) return "<token>";
  return value;
}

/** Every field the example shows is in the answer, equal; lists keep their order (the example may show fewer). */
function mismatches(example: unknown, actual: unknown, at = "$"): string[] {
  if (Array.isArray(example)) {
    if (!Array.isArray(actual)) return [`${at}: documented a list, got ${JSON.stringify(actual)}`];
    if (example.length > actual.length) return [`${at}: documented ${example.length} items, got ${actual.length}`];
    return example.flatMap((item, i) => mismatches(item, actual[i], `${at}[${i}]`));
  }
  if (example !== null && typeof example === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual))
      return [`${at}: documented an object, got ${JSON.stringify(actual)}`];
    return Object.entries(example).flatMap(([key, inner]) =>
      key in actual
        ? mismatches(inner, (actual as Record<string, unknown>)[key], `${at}.${key}`)
        : [`${at}.${key}: not in the answer`],
    );
  }
  return example === actual ? [] : [`${at}: documented ${JSON.stringify(example)}, got ${JSON.stringify(actual)}`];
}

async function answer(res: Response): Promise<{ status: number; body: unknown }> {
  return { status: res.status, body: await res.json() };
}

/** The guides' walk-through, call by call, keyed like the documented examples. */
async function walkThrough(): Promise<Map<string, { status: number; body: unknown }>> {
  const seen = new Map<string, { status: number; body: unknown }>();
  const record = (key: string, value: { status: number; body: unknown }) => {
    expect(`${value.status} ${key}`).toMatch(/^\d{3} /);
    seen.set(`${value.status} ${key}`, value);
    return value.body as Record<string, unknown>;
  };

  const created = record(
    "POST /api/codes",
    await answer(await api("/api/codes", { body: { userId: "user_123", name: "Alex", email: "alex@example.com" } })),
  );
  const code = created.code as string;
  const clicked = await call(`/r/${code}`, {
    headers: { "user-agent": BROWSER_UA, "cf-connecting-ip": "203.0.113.7" },
  });
  expect(clicked.status).toBe(302);
  const token = readSetCookie(clicked, "ref_token")?.value;
  record(
    "POST /api/attributions",
    await answer(
      await api("/api/attributions", { body: { refereeId: "user_456", token, code, email: "sam@example.com" } }),
    ),
  );
  record("GET /api/codes/{code}", await answer(await api(`/api/codes/${code}`)));
  record("GET /api/users/user_456/entitlements", await answer(await api("/api/users/user_456/entitlements")));
  record("GET /api/users/user_123/entitlements", await answer(await api("/api/users/user_123/entitlements")));
  // Entries granted in one batch share their time and follow in id order, which is random:
  // compare them by rule, as the guide says.
  const listed = await answer(await api("/api/users/user_123/rewards?limit=20"));
  const page = listed.body as { rewards: { rule: string; id: string }[] };
  page.rewards.sort((a, b) => a.rule.localeCompare(b.rule));
  const rewards = record("GET /api/users/user_123/rewards", listed);
  record("GET /api/events", await answer(await api("/api/events?limit=1")));
  const first = (rewards.rewards as { id: string; rule: string }[]).find(
    (reward) => reward.rule === "referrer-signup-messages",
  )?.id;
  record("POST /api/rewards/{id}/redeem", await answer(await api(`/api/rewards/${first}/redeem`, { method: "POST" })));
  const minted = record(
    "POST /api/widget-tokens",
    await answer(await api("/api/widget-tokens", { body: { userId: "user_123" } })),
  );
  record("GET /widgets/v1/me", await answer(await widgetCall("/widgets/v1/me", minted.token as string)));

  const now = Date.now();
  const checkout = await deliver(checkoutCompleted({ userId: "user_456", customer: "cus_docs", at: now - 2_000 }));
  const invoice = await deliver(invoicePaid({ customer: "cus_docs", at: now - 1_000 }));
  expect(invoice).toEqual(checkout);
  record("POST /webhooks/stripe", invoice);
  record("GET /api/stats", await answer(await api("/api/stats")));
  return seen;
}

describe("the examples in the README and the guides", () => {
  it("are what the service answers to the same calls, field for field and in order", async () => {
    const seen = await walkThrough();
    const examples = documentedExamples();

    const problems = examples.flatMap(({ page, key, body }) => {
      const live = seen.get(key);
      if (!live) return [`${page}: "${key}" is not a call the walk-through makes`];
      return mismatches(normalise(body), normalise(live.body)).map((problem) => `${page} (${key}) ${problem}`);
    });
    expect(problems).toEqual([]);
    // Every call of the walk-through is shown somewhere, so none goes unchecked.
    expect([...seen.keys()].filter((key) => !examples.some((example) => example.key === key))).toEqual([]);
  });
});
