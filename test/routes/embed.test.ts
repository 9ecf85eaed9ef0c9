import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signWidgetToken } from "../../src/domain/widget-token";
import { API_KEY, attribute, call, callHost, click, countRows, createCode, flush, widgetToken } from "../helpers";

describe("GET /widgets/v1/embed", () => {
  it("renders the card with the user's link, numbers, chart, rewards and leaderboard", async () => {
    const code = await createCode("embed-user", "emb");
    await click(code, { ip: "198.19.0.1" });
    await click(code, { ip: "198.19.0.2" });
    await click(code, { ip: "198.19.0.3" });
    await flush(code);
    await attribute({ refereeId: "embed-ref", code });

    const res = await call(`/widgets/v1/embed?token=${await widgetToken("embed-user")}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain(`value="https://refer.example.com/r/${code}"`);
    expect(html).toMatch(/data-stat="clicks">3</);
    expect(html).toMatch(/data-stat="signups">1</);
    expect(html).toMatch(/data-stat="conversions">0</);
    expect(html).toContain("Last 30 days: 3 clicks and 1 signups");
    expect(html).toContain("+10 messages");
    expect(html).toContain(`https://twitter.com/intent/tweet?`);
    expect(html).toContain(
      `https://www.linkedin.com/sharing/share-offsite/?url=${encodeURIComponent(`https://refer.example.com/r/${code}`)}`,
    );
    expect(html).toContain("mailto:?subject=");
    expect(html).toContain('<label for="share-link"');
    expect(html).toContain("(you)");
  });

  it("puts the link on PUBLIC_URL whatever Host the request names", async () => {
    const code = await createCode("embed-host", "ehst");
    const res = await callHost("http://evil.example", `/widgets/v1/embed?token=${await widgetToken("embed-host")}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`value="https://refer.example.com/r/${code}"`);
    expect(html).not.toContain("evil.example");
  });

  it("sends a strict CSP that lets only the dashboard origins frame it", async () => {
    await createCode("csp-user", "csp");
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("csp-user")}`);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors https://dashboard.example.com http://127.0.0.1:8788");
    const nonce = csp.match(/script-src 'nonce-([0-9a-f]+)'/)?.[1];
    expect(nonce).toBeDefined();
    const html = await res.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).not.toMatch(/ style="/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  });

  it.each([
    ["no token", "", "cannot be shown"],
    ["a forged token", "token=abc.def", "cannot be shown"],
  ])("shows a friendly page for %s", async (_name, query, text) => {
    const res = await call(`/widgets/v1/embed?${query}`);
    expect(res.status).toBe(401);
    const html = await res.text();
    expect(html).toContain(text);
    expect(html).not.toMatch(/Error|at \w+ \(/);
  });

  it("tells the user when their card has expired", async () => {
    const token = await signWidgetToken("csp-user", Date.now() - 1000, {
      kid: "w2",
      secret: "test-widget-secret-new-00000",
    });
    const res = await call(`/widgets/v1/embed?token=${token}`);
    expect(res.status).toBe(401);
    expect(await res.text()).toContain("This referral card has expired");
  });

  it("tells a user without a code that their link is coming", async () => {
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("nobody-yet")}`);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain("No referral link yet");
  });
});

describe("the card's branding", () => {
  const styleOf = (html: string) => html.match(/<style nonce="[0-9a-f]+">([^<]*)<\/style>/)?.[1] ?? "";

  it("uses the generic wording and the default colour without settings", async () => {
    const code = await createCode("brand-default", "bdef");
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("brand-default")}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("<title>Your referrals</title>");
    expect(html).toMatch(/<h1 data-testid="title">Invite friends, earn rewards<\/h1>/);
    const message = `Join me on this product: use my link to get a welcome bonus. https://refer.example.com/r/${code}`;
    expect(html).toContain(`data-message="${message}"`);
    expect(html).toContain(`https://twitter.com/intent/tweet?text=${encodeURIComponent(message)}"`);
    expect(styleOf(html)).toContain(":root { --accent: #3730a3; --accent-ink: #ffffff; --accent-text: #3730a3; }");
  });

  it("carries the configured product name, share text and colour", async () => {
    const code = await createCode("brand-set", "bset");
    const bindings = {
      ...env,
      WIDGET_PRODUCT_NAME: "Acme <Notes> & Co",
      WIDGET_SHARE_TEXT: "I write with {productName}. Sign up at {link} for a free month",
      WIDGET_BRAND_COLOR: "#FFD400",
    } as typeof env;
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("brand-set")}`, {}, bindings);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("<title>Your Acme &lt;Notes&gt; &amp; Co referrals</title>");
    expect(html).toMatch(/<h1 data-testid="title">Invite friends to Acme &lt;Notes&gt; &amp; Co, earn rewards<\/h1>/);
    const message = `I write with Acme <Notes> & Co. Sign up at https://refer.example.com/r/${code} for a free month`;
    expect(html).toContain(
      `data-message="${message.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")}"`,
    );
    expect(html).toContain(`https://twitter.com/intent/tweet?text=${encodeURIComponent(message)}"`);
    expect(html).toContain(`body=${encodeURIComponent(message)}"`);
    // A yellow takes black text, and is too light for links on white: they keep the ink colour.
    expect(styleOf(html)).toContain(":root { --accent: #ffd400; --accent-ink: #000000; --accent-text: #1b1b2f; }");
    // Still the one nonce'd style element and no inline style attribute.
    expect(html.match(/<style/g)).toHaveLength(1);
    expect(html).not.toMatch(/ style="/);
  });

  it("brands the friendly error pages too", async () => {
    const res = await call("/widgets/v1/embed", {}, { ...env, WIDGET_BRAND_COLOR: "#0b6e4f" } as typeof env);
    expect(res.status).toBe(401);
    expect(styleOf(await res.text())).toContain("--accent: #0b6e4f; --accent-ink: #ffffff;");
  });
});

describe("the card's chart", () => {
  it("labels the chart in HTML at 12 CSS px, outside the SVG that scales down on a phone", async () => {
    await createCode("chart-labels", "chl");
    const res = await call(`/widgets/v1/embed?token=${await widgetToken("chart-labels")}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    const svg = html.match(/<svg[^>]*data-testid="chart"[\s\S]*?<\/svg>/)?.[0] ?? "";
    expect(svg).not.toBe("");
    // SVG text is sized in viewBox units: at 375 px the 600-unit chart is ~300 px wide, so 11 units render at ~5.5 px.
    expect(svg).not.toContain("<text");
    expect(svg).not.toContain("font-size");
    const today = new Date().toISOString().slice(0, 10);
    expect(html).toMatch(
      new RegExp(
        `</svg><p class="chart-axis" aria-hidden="true" data-testid="chart-axis"><span>\\d{4}-\\d{2}-\\d{2}</span><span>max 1 a day</span><span>${today}</span></p>`,
      ),
    );
    const rule = html.match(/\.chart-axis \{[^}]*\}/)?.[0] ?? "";
    const size = rule.match(/font-size: (\d+(?:\.\d+)?)px;/);
    expect(size).not.toBeNull();
    expect(Number(size?.[1])).toBeGreaterThanOrEqual(11);
  });
});

describe("the card's reward picker", () => {
  /** The referrer picks their signup reward: $10 credit, or 50 messages + 25 requests; their messages are held 3 days. */
  const picker = {
    ...env,
    REWARD_RULES: JSON.stringify({
      signup: {
        referrer: [
          {
            id: "signup-pick",
            chooseWithinDays: 7,
            choices: [
              {
                id: "credit",
                label: "$10 credit",
                type: "account_credit",
                amount: 1000,
                currency: "usd",
                validFor: null,
              },
              {
                id: "usage",
                grants: [
                  { type: "extra_messages", amount: 50, validFor: { months: 3 } },
                  { type: "extra_requests", amount: 25, validFor: { months: 3 } },
                ],
              },
            ],
          },
          { id: "signup-held", type: "extra_messages", amount: 10, validFor: null, holdDays: 3 },
        ],
        referee: [],
      },
      milestones: [],
    }),
  } as Env;
  const date = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });

  let n = 0;
  async function referrerWithChoice() {
    const referrerId = `picker-user-${++n}`;
    const code = await createCode(referrerId, "pick");
    const res = await call(
      "/api/attributions",
      {
        method: "POST",
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ refereeId: `picker-referee-${n}`, code }),
      },
      picker,
    );
    expect(res.status).toBe(201);
    const row = await env.DB.prepare("SELECT id, choose_by FROM rewards WHERE user_id = ? AND rule = 'signup-pick'")
      .bind(referrerId)
      .first<{ id: string; choose_by: number }>();
    if (!row) throw new Error("no reward to choose");
    return { referrerId, id: row.id, chooseBy: row.choose_by, token: await widgetToken(referrerId) };
  }

  const card = async (token: string, query = "") => call(`/widgets/v1/embed?token=${token}${query}`, {}, picker);
  const choose = (id: string, form: Record<string, string>, accept = "text/html,application/xhtml+xml") =>
    call(
      `/widgets/v1/embed/rewards/${id}/choose`,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept },
        body: new URLSearchParams(form),
      },
      picker,
    );
  const stored = (id: string) =>
    env.DB.prepare("SELECT choice, type, amount, status FROM rewards WHERE id = ?").bind(id).first();
  const bundleRows = (id: string) => countRows("SELECT count(*) AS n FROM rewards WHERE bundle_of = ?", id);

  it("offers each option as a form that posts the token in its body, allowed by the CSP", async () => {
    const r = await referrerWithChoice();
    const res = await card(r.token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("form-action 'self'");
    const html = await res.text();
    const picker = html.match(/<section aria-labelledby="choose-heading"[\s\S]*?<\/section>/)?.[0] ?? "";
    expect(picker).toContain("Choose your reward");
    expect(picker).toContain(`Pick one by ${date.format(new Date(r.chooseBy))}; after that you get $10 credit.`);
    const forms = [...picker.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)];
    expect(forms.map((form) => form[1])).toEqual([
      `/widgets/v1/embed/rewards/${r.id}/choose`,
      `/widgets/v1/embed/rewards/${r.id}/choose`,
    ]);
    for (const [, , body] of forms) expect(body).toContain(`<input type="hidden" name="token" value="${r.token}"/>`);
    expect(forms.map(([, , body]) => body?.match(/name="choice" value="([^"]+)"/)?.[1])).toEqual(["credit", "usage"]);
    expect(forms.map(([, , body]) => body?.match(/<button[^>]*>([^<]+)<\/button>/)?.[1])).toEqual([
      "$10 credit",
      "50 messages + 25 requests",
    ]);
    // The entry waiting for the choice, and the held one with the day it becomes available.
    const held = await env.DB.prepare("SELECT available_at FROM rewards WHERE user_id = ? AND rule = 'signup-held'")
      .bind(r.referrerId)
      .first<number>("available_at");
    expect(html).toContain(`available on ${date.format(new Date(held ?? 0))}`);
    expect(html).toContain("choose above");
  });

  it("takes the choice from the form, goes back to the card with a 303, and the card shows the reward", async () => {
    const r = await referrerWithChoice();
    const res = await choose(r.id, { token: r.token, choice: "usage" });
    expect(res.status).toBe(303);
    const location = res.headers.get("location") ?? "";
    expect(location).toBe(`/widgets/v1/embed?${new URLSearchParams({ token: r.token, chosen: r.id })}`);
    expect(res.headers.get("cache-control")).toBe("private, no-store");
    expect(await stored(r.id)).toEqual({ choice: "usage", type: "extra_messages", amount: 50, status: "active" });
    expect(await bundleRows(r.id)).toBe(1);

    const back = await call(location, {}, picker);
    expect(back.status).toBe(200);
    const html = await back.text();
    expect(html).toContain(
      '<p class="notice" role="status" data-testid="notice">Your reward: 50 messages + 25 requests.</p>',
    );
    expect(html).not.toContain('data-testid="picker"');
    const table = html.match(/<table data-testid="rewards">[\s\S]*?<\/table>/)?.[0] ?? "";
    expect(table).toContain("+50 messages");
    expect(table).toContain("+25 requests");

    // The same form again (a double click) changes nothing and goes back the same way.
    const again = await choose(r.id, { token: r.token, choice: "usage" });
    expect(again.status).toBe(303);
    expect(await bundleRows(r.id)).toBe(1);
  });

  it("shows why on the card when the choice is refused, and answers a program with the error envelope", async () => {
    const r = await referrerWithChoice();
    expect((await choose(r.id, { token: r.token, choice: "credit" })).status).toBe(303);

    const page = await choose(r.id, { token: r.token, choice: "usage" });
    expect(page.status).toBe(409);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("form-action 'self'");
    const html = await page.text();
    expect(html).toContain('<p class="problem" role="alert" data-testid="problem">You already chose this reward');
    expect(html).toContain("Your share link");

    const program = await choose(r.id, { token: r.token, choice: "usage" }, "application/json");
    expect(program.status).toBe(409);
    expect(((await program.json()) as { error: { code: string } }).error.code).toBe("already_chosen");

    const unknown = await choose(r.id, { token: r.token, choice: "yacht" }, "application/json");
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("invalid_request");
    expect(await stored(r.id)).toMatchObject({ choice: "credit", type: "account_credit", amount: 1000 });
    expect(await bundleRows(r.id)).toBe(0);
  });

  it("refuses a forged token, someone else's reward and an incomplete form, changing nothing", async () => {
    const r = await referrerWithChoice();
    const other = await referrerWithChoice();

    const forged = await choose(r.id, { token: "abc.def", choice: "usage" });
    expect(forged.status).toBe(401);
    expect(await forged.text()).toContain("This referral card cannot be shown");
    const forgedProgram = await choose(r.id, { token: "abc.def", choice: "usage" }, "application/json");
    expect(forgedProgram.status).toBe(401);
    expect(((await forgedProgram.json()) as { error: { code: string } }).error.code).toBe("unauthorized");

    const notTheirs = await choose(r.id, { token: other.token, choice: "usage" });
    expect(notTheirs.status).toBe(404);
    expect(await notTheirs.text()).toContain("This reward has no choice to take");

    const incomplete = await choose(r.id, { token: r.token });
    expect(incomplete.status).toBe(400);
    expect(await incomplete.text()).toContain("The form was incomplete");

    const json = await call(
      `/widgets/v1/embed/rewards/${r.id}/choose`,
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ choice: "usage" }) },
      picker,
    );
    expect(json.status).toBe(415);

    expect(await stored(r.id)).toMatchObject({ choice: null, status: "pending" });
    expect(await bundleRows(r.id)).toBe(0);
  });
});
