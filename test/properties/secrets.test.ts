import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { testBindings } from "../bindings";
import { API_KEY, api, attribute, call, click, createCode, widgetToken } from "../helpers";
import { deliver } from "../stripe/fixtures";

/** Every secret the tests configure, in every form it could leak in. */
const SECRETS = [
  ...testBindings.API_KEYS.split(","),
  ...testBindings.ATTRIBUTION_KEYS.split(",").map((entry) => entry.split(":")[1] as string),
  ...testBindings.WIDGET_KEYS.split(",").map((entry) => entry.split(":")[1] as string),
  ...testBindings.STRIPE_WEBHOOK_SECRETS.split(","),
  testBindings.VISITOR_SALT,
  "sk_test_secret_never_logged_0000",
  "evt_secret_never_logged_00000000",
  "evt-too-short",
];

afterEach(() => {
  vi.restoreAllMocks();
});

describe("secrets", () => {
  it("never appear in logs or answers, through errors, refusals and misconfiguration", async () => {
    const logged: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logged.push(args.map((arg) => (arg instanceof Error ? `${arg.message} ${arg.stack}` : String(arg))).join(" "));
      });
    }
    const answers: string[] = [];
    const keep = async (res: Response | Promise<Response>) => answers.push(await (await res).text());

    const code = await createCode("secret-owner", "sec");
    await click(code, { ip: "100.97.0.1" });
    await attribute({ refereeId: "secret-referee", code });
    await keep(call("/api/codes/DEVO-NONE0000", { headers: { authorization: "Bearer wrong-key-000000000000" } }));
    await keep(api("/api/attributions", { body: { refereeId: "x", token: "forged.token" } }));
    await keep(call(`/widgets/v1/me`, { headers: { authorization: `Bearer ${await widgetToken("secret-owner")}x` } }));
    answers.push(JSON.stringify((await deliver('{"id":"evt_x"}', { secret: "whsec_wrong_000000000000000" })).body));
    // Misconfigured: a bad setting next to good secrets, and a Stripe key that must not echo.
    const broken = { ...env, API_KEYS: "short", STRIPE_SECRET_KEY: "sk_test_secret_never_logged_0000" };
    await keep(call("/api/codes/DEVO-NONE0000", { headers: { authorization: `Bearer ${API_KEY}` } }, broken as Env));
    // Outbound event secrets: a good one next to a bad setting, and one too short to be valid.
    for (const events of [
      { EVENTS_URL: "not a url", EVENTS_SECRETS: "evt_secret_never_logged_00000000" },
      { EVENTS_URL: "https://hooks.example.com/referrals", EVENTS_SECRETS: "evt-too-short" },
    ]) {
      await keep(
        call("/api/codes/DEVO-NONE0000", { headers: { authorization: `Bearer ${API_KEY}` } }, {
          ...env,
          ...events,
        } as Env),
      );
    }
    // D1 failing mid-request.
    const failing = {
      ...env,
      DB: {
        prepare: () => {
          throw new Error("D1 down (injected)");
        },
      },
    } as unknown as Env;
    await keep(
      call(
        "/api/codes",
        {
          method: "POST",
          headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
          body: '{"userId":"u"}',
        },
        failing,
      ),
    );

    expect(answers.filter((answer) => answer.includes("misconfigured"))).toHaveLength(3);
    expect(answers.some((answer) => answer.includes("EVENTS_SECRETS"))).toBe(true);
    expect(answers.some((answer) => answer.includes("internal_error"))).toBe(true);
    const everything = [...logged, ...answers].join("\n");
    for (const secret of SECRETS) expect(everything, `a secret leaked: ${secret.slice(0, 6)}…`).not.toContain(secret);
  });
});
