import { z } from "zod";
import { DEFAULT_BRAND_COLOR, DEFAULT_SHARE_TEXT, type WidgetBrand } from "./domain/brand";
import { parseRules, type RewardRules } from "./domain/rules";
import { textProblem } from "./domain/text";

/** A signing key for attribution tokens: `kid:secret`. */
export interface SigningKey {
  kid: string;
  secret: string;
}

const list = (value: string) =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value && value.trim() !== "" ? value.trim() : undefined));

/** A whole number from `min` to `max`; empty or absent means `fallback`. */
const wholeNumber = (fallback: number, max: number, min = 0) =>
  z
    .string()
    .optional()
    .transform((value) => (value && value.trim() !== "" ? value.trim() : String(fallback)))
    .transform(Number)
    .pipe(z.number({ message: "must be a whole number" }).int().min(min).max(max));

const positiveInt = (fallback: number, max: number) => wholeNumber(fallback, max, 1);

/** The settings a counter object reads: parsed apart, so that a counter never refuses or stalls over a setting it does not use. */
const counterVars = z.object({
  /** The per-client click budget a counter enforces; 0 turns it off. */
  CLICK_LIMIT_PER_MINUTE: wholeNumber(60, 1_000_000),
  CLICK_LOG_HOT_DAYS: wholeNumber(2, 3650),
});

/** Text shown to people on the card: bounded, no control characters (nor lone surrogates). */
const displayText = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .superRefine((value, ctx) => {
      const problem = textProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    });

/** `kid:secret,…` with distinct kids: the first signs, all verify. */
const signingKeys = z
  .string({ message: "is required" })
  .transform(list)
  .pipe(
    z
      .array(
        z.string().regex(/^[A-Za-z0-9_-]{1,16}:.{16,}$/, "each entry is kid:secret, the secret at least 16 characters"),
      )
      .min(1, "needs at least one key"),
  )
  .transform((entries) =>
    entries.map((entry): SigningKey => {
      const at = entry.indexOf(":");
      return { kid: entry.slice(0, at), secret: entry.slice(at + 1) };
    }),
  )
  .refine((keys) => new Set(keys.map((key) => key.kid)).size === keys.length, "needs distinct kids");

const configSchema = z.object({
  SIGNUP_URL: z.url({ message: "must be an absolute http(s) URL" }),
  CODE_PREFIX: optionalText
    .transform((value) => value ?? "DEVO")
    .pipe(z.string().regex(/^[A-Z0-9]{1,12}$/, "must be 1-12 characters A-Z or 0-9")),
  ATTRIBUTION_WINDOW_DAYS: positiveInt(60, 400),
  COOKIE_NAME: optionalText
    .transform((value) => value ?? "ref_token")
    .pipe(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be a valid cookie name")),
  COOKIE_DOMAIN: optionalText,
  // Unset means the default; set to empty, the token stays out of the URL.
  ATTRIBUTION_URL_PARAM: z
    .string()
    .optional()
    .transform((value) => (value === undefined ? "ref_click" : value.trim()))
    .pipe(
      z
        .string()
        .regex(/^([A-Za-z0-9_-]{1,64})?$/, "must be a query parameter name (letters, digits, - or _) or empty")
        .refine((value) => value !== "ref" && value !== "promo", "must not be ref or promo: the redirect sets those"),
    ),
  // Share links are built on this origin and nothing else (never the request's Host), so every
  // environment names it: npm start, the local service and the tests set it too.
  PUBLIC_URL: optionalText
    .pipe(
      z.url({
        protocol: /^https?$/,
        error: "is required: the http(s) origin share links are built on, such as https://refer.example.com",
      }),
    )
    .refine((value) => {
      const url = new URL(value);
      return url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
    }, "must be an origin only (scheme, host, port): share links add /r/CODE to it"),
  CLICK_SHARDS: positiveInt(1, 64),
  CLICK_LIMIT_PER_MINUTE: counterVars.shape.CLICK_LIMIT_PER_MINUTE,
  MAX_REFEREES_PER_CLICK: positiveInt(1, 1000),
  API_KEYS: z
    .string({ message: "is required" })
    .transform(list)
    .pipe(z.array(z.string().min(16, "each key needs at least 16 characters")).min(1, "needs at least one key")),
  ATTRIBUTION_KEYS: signingKeys,
  VISITOR_SALT: z.string({ message: "is required" }).min(16, "needs at least 16 characters"),
  REWARD_RULES: optionalText,
  STRIPE_WEBHOOK_SECRETS: optionalText.transform((value) => (value ? list(value) : [])),
  STRIPE_SECRET_KEY: optionalText,
  STRIPE_API_BASE: optionalText.pipe(z.url().optional()),
  REFEREE_COUPON: optionalText.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,200}$/, "must be a Stripe coupon id")
      .optional(),
  ),
  CLAWBACK_DAYS: positiveInt(30, 3650),
  CLICK_RETENTION_DAYS: positiveInt(90, 3650),
  CLICK_LOG_HOT_DAYS: counterVars.shape.CLICK_LOG_HOT_DAYS,
  EVENTS_URL: optionalText.pipe(z.url().optional()),
  EVENTS_SECRETS: optionalText
    .transform((value) => (value ? list(value) : []))
    .pipe(z.array(z.string().min(16, "each secret needs at least 16 characters"))),
  EVENTS_RETRY_BASE_S: positiveInt(30, 3600),
  WIDGET_KEYS: signingKeys,
  WIDGET_TOKEN_TTL_S: positiveInt(3600, 86_400),
  WIDGET_PRODUCT_NAME: optionalText.pipe(displayText(60).optional()),
  WIDGET_SHARE_TEXT: optionalText
    .transform((value) => value ?? DEFAULT_SHARE_TEXT)
    .pipe(
      displayText(280).refine(
        (value) => (value.match(/\{[^}]*\}/g) ?? []).every((found) => found === "{link}" || found === "{productName}"),
        "may use only the {link} and {productName} placeholders",
      ),
    ),
  // It goes into the card's style sheet: only this exact shape may, nothing that could close a rule.
  WIDGET_BRAND_COLOR: optionalText
    .transform((value) => value ?? DEFAULT_BRAND_COLOR)
    .pipe(z.string().regex(/^#[0-9a-fA-F]{6}$/, "must be a #rrggbb hex colour, such as #3730a3"))
    .transform((value) => value.toLowerCase()),
  WIDGET_ORIGINS: optionalText.transform((value) => (value ? list(value) : [])).pipe(z.array(z.url())),
  ADMIN_KEYS: optionalText
    .transform((value) => (value ? list(value) : []))
    .pipe(z.array(z.string().min(16, "each key needs at least 16 characters"))),
  ACCESS_TEAM_DOMAIN: optionalText.pipe(
    z
      .string()
      .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, "must be a host name such as team.cloudflareaccess.com")
      .optional(),
  ),
  ACCESS_AUD: optionalText,
  ACCESS_CERTS_URL: optionalText.pipe(z.url().optional()),
});

/** The service's settings, parsed once per isolate from the Worker's bindings. */
export interface Config {
  signupUrl: string;
  codePrefix: string;
  attributionWindowMs: number;
  cookieName: string;
  cookieDomain: string | undefined;
  /** The signup URL's query parameter that carries the compact attribution token; null keeps it out of URLs. */
  attributionUrlParam: string | null;
  /** The origin share links are built on (`PUBLIC_URL`, no trailing slash). */
  publicUrl: string;
  clickShards: number;
  /** Clicks per client address and minute that a counter counts (0: no limit); over it, redirected but not counted. */
  clickLimitPerMinute: number;
  /** How many referees one click (one attribution token) may credit; later uses are refused as same_click. */
  maxRefereesPerClick: number;
  apiKeys: string[];
  /** Signs new attribution tokens: the first of `attributionKeys`. */
  signingKey: SigningKey;
  /** Verify attribution tokens: every listed key, so rotation breaks no live cookie. */
  attributionKeys: SigningKey[];
  visitorSalt: string;
  rules: RewardRules;
  /** Webhook signing secrets (`whsec_…`), several during a rotation; empty disables the webhook. */
  stripeWebhookSecrets: string[];
  /** Enables Stripe API calls: customer-balance credits and dispute lookups. */
  stripeSecretKey: string | undefined;
  /** Where the Stripe SDK sends API calls; only tests and local stubs change it. */
  stripeApiBase: string | undefined;
  /** The Stripe coupon a referee's promotion code applies; with stripeSecretKey, every code gets one. */
  refereeCoupon: string | undefined;
  clawbackMs: number;
  /** Where events for the host product are POSTed; unset keeps them in the delivery log only. */
  eventsUrl: string | undefined;
  /** Signing secrets for those events: each signs, so the receiver can rotate. */
  eventsSecrets: string[];
  eventsRetryBaseMs: number;
  /** Raw clicks older than this are deleted from the R2 click log by the cron; aggregates stay. */
  clickRetentionDays: number;
  /** Days of click rows D1 keeps besides the R2 log; 0 keeps none. */
  clickLogHotDays: number;
  /** Widget token keys: the first signs, all verify. */
  widgetKeys: SigningKey[];
  widgetTokenTtlMs: number;
  /** Browser origins allowed to call the widget API (CORS) and to frame the embed page. */
  widgetOrigins: string[];
  /** The host's product name, share text and colour on the embeddable card. */
  widgetBrand: WidgetBrand;
  /** Keys that open the operator's console at /admin/login; empty with Access configured. */
  adminKeys: string[];
  /** Cloudflare Access in front of /admin: every request carries its signed assertion. */
  access: { teamDomain: string; aud: string; certsUrl: string } | undefined;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const DAY_MS = 86_400_000;

/** Parses the bindings into a typed config; throws a ConfigError naming every bad setting. */
export function parseConfig(env: Record<string, unknown>): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    // Name the settings, never their values: some of them are secrets.
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "config"} ${issue.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join("; ")}`);
  }
  const v = parsed.data;
  if (v.EVENTS_URL && v.EVENTS_SECRETS.length === 0) {
    throw new ConfigError("Invalid configuration: EVENTS_SECRETS is required when EVENTS_URL is set");
  }
  if (v.ADMIN_KEYS.some((key) => v.API_KEYS.includes(key))) {
    throw new ConfigError("Invalid configuration: ADMIN_KEYS must not repeat a key from API_KEYS");
  }
  if ((v.ACCESS_TEAM_DOMAIN === undefined) !== (v.ACCESS_AUD === undefined)) {
    throw new ConfigError("Invalid configuration: ACCESS_TEAM_DOMAIN and ACCESS_AUD are set together");
  }
  const [signingKey] = v.ATTRIBUTION_KEYS;
  if (!signingKey) throw new ConfigError("Invalid configuration: ATTRIBUTION_KEYS needs at least one key");
  return {
    rules: parseRewardRules(v.REWARD_RULES),
    signupUrl: v.SIGNUP_URL,
    codePrefix: v.CODE_PREFIX,
    attributionWindowMs: v.ATTRIBUTION_WINDOW_DAYS * DAY_MS,
    cookieName: v.COOKIE_NAME,
    cookieDomain: v.COOKIE_DOMAIN,
    attributionUrlParam: v.ATTRIBUTION_URL_PARAM === "" ? null : v.ATTRIBUTION_URL_PARAM,
    publicUrl: v.PUBLIC_URL.replace(/\/+$/, ""),
    clickShards: v.CLICK_SHARDS,
    clickLimitPerMinute: v.CLICK_LIMIT_PER_MINUTE,
    maxRefereesPerClick: v.MAX_REFEREES_PER_CLICK,
    apiKeys: v.API_KEYS,
    signingKey,
    attributionKeys: v.ATTRIBUTION_KEYS,
    visitorSalt: v.VISITOR_SALT,
    stripeWebhookSecrets: v.STRIPE_WEBHOOK_SECRETS,
    stripeSecretKey: v.STRIPE_SECRET_KEY,
    stripeApiBase: v.STRIPE_API_BASE,
    refereeCoupon: v.REFEREE_COUPON,
    clawbackMs: v.CLAWBACK_DAYS * DAY_MS,
    clickRetentionDays: v.CLICK_RETENTION_DAYS,
    clickLogHotDays: v.CLICK_LOG_HOT_DAYS,
    eventsUrl: v.EVENTS_URL,
    eventsSecrets: v.EVENTS_SECRETS,
    eventsRetryBaseMs: v.EVENTS_RETRY_BASE_S * 1000,
    widgetKeys: v.WIDGET_KEYS,
    widgetTokenTtlMs: v.WIDGET_TOKEN_TTL_S * 1000,
    widgetOrigins: v.WIDGET_ORIGINS.map((origin) => new URL(origin).origin),
    widgetBrand: {
      productName: v.WIDGET_PRODUCT_NAME,
      shareText: v.WIDGET_SHARE_TEXT,
      brandColor: v.WIDGET_BRAND_COLOR,
    },
    adminKeys: v.ADMIN_KEYS,
    access:
      v.ACCESS_TEAM_DOMAIN && v.ACCESS_AUD
        ? {
            teamDomain: v.ACCESS_TEAM_DOMAIN,
            aud: v.ACCESS_AUD,
            certsUrl: v.ACCESS_CERTS_URL ?? `https://${v.ACCESS_TEAM_DOMAIN}/cdn-cgi/access/certs`,
          }
        : undefined,
  };
}

/** The default rules, with the top-level keys given in REWARD_RULES (JSON) replaced. */
function parseRewardRules(json: string | undefined): RewardRules {
  let override: unknown;
  try {
    override = json === undefined ? undefined : JSON.parse(json);
  } catch {
    throw new ConfigError("Invalid configuration: REWARD_RULES is not valid JSON");
  }
  if (override !== undefined && (typeof override !== "object" || override === null || Array.isArray(override))) {
    throw new ConfigError("Invalid configuration: REWARD_RULES must be a JSON object");
  }
  try {
    return parseRules(override);
  } catch (error) {
    const issues = error instanceof z.ZodError ? error.issues : [];
    const problems = issues.map((issue) => `${issue.path.join(".") || "rules"}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration: REWARD_RULES ${problems.join("; ") || String(error)}`);
  }
}

const cache = new WeakMap<object, Config>();

/** The config for these bindings, parsed on first use and then reused by the isolate. */
export function getConfig(env: Env): Config {
  let config = cache.get(env);
  if (!config) {
    config = parseConfig(env as unknown as Record<string, unknown>);
    cache.set(env, config);
  }
  return config;
}

/**
 * The counter objects' settings alone (the click budget, the days of click
 * rows D1 keeps): a counter must not refuse clicks or stall its flushes over
 * a setting it never uses.
 */
export function counterSettings(env: Env): { clickLimitPerMinute: number; clickLogHotDays: number } {
  const parsed = counterVars.safeParse(env);
  if (!parsed.success) {
    const names = [...new Set(parsed.error.issues.map((issue) => String(issue.path[0])))].join(", ");
    throw new ConfigError(`Invalid configuration: ${names} must be a whole number in range`);
  }
  return { clickLimitPerMinute: parsed.data.CLICK_LIMIT_PER_MINUTE, clickLogHotDays: parsed.data.CLICK_LOG_HOT_DAYS };
}
