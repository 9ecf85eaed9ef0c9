import type { FC } from "hono/jsx";
import type { Config } from "../../config";
import { DEFAULT_CHOOSE_WITHIN_DAYS } from "../../domain/rules";
import { formatAmount, formatNumber, Layout, type PageContext } from "../layout";

/**
 * The API budgets, as wrangler.toml's [[ratelimits]] set them (bindings do not expose their budget). The
 * share link's click limit is a setting the counters enforce (CLICK_LIMIT_PER_MINUTE), shown with the others.
 */
export const RATE_LIMITS: { binding: string; per: string; limit: number; period: number }[] = [
  { binding: "API_LIMITER", per: "API key, all of /api/*", limit: 1200, period: 60 },
  { binding: "ATTRIBUTION_LIMITER", per: "API key, POST /api/attributions", limit: 300, period: 60 },
  { binding: "WIDGET_LIMITER", per: "widget token", limit: 120, period: 60 },
  { binding: "ADMIN_LOGIN_LIMITER", per: "client address, POST /admin/login", limit: 10, period: 60 },
];

const DAY_MS = 86_400_000;

type Grant = Config["rules"]["signup"]["referrer"][number];

const validity = (grant: Grant) =>
  grant.validFor === null
    ? "no end"
    : [grant.validFor.months && `${grant.validFor.months} months`, grant.validFor.days && `${grant.validFor.days} days`]
        .filter(Boolean)
        .join(" ");

/** The reward mechanics a rule adds: hold, recurrence, cap. */
const mechanics = (grant: Grant) =>
  [
    grant.holdDays ? `held ${grant.holdDays} days` : null,
    grant.recurring?.invoices ? `each of the first ${grant.recurring.invoices} invoices` : null,
    grant.recurring?.months ? `each invoice of the first ${grant.recurring.months} months` : null,
    grant.capPerReferral !== undefined ? `at most ${formatNumber(grant.capPerReferral)} per referral` : null,
    grant.choices
      ? `the referrer chooses ${grant.choices.map((option) => option.id).join(" or ")} within ${grant.chooseWithinDays ?? DEFAULT_CHOOSE_WITHIN_DAYS} days`
      : null,
  ]
    .filter(Boolean)
    .join("; ");

const GrantTable: FC<{ caption: string; grants: Grant[] }> = ({ caption, grants }) => (
  <div class="scroll">
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Rule</th>
          <th scope="col">Type</th>
          <th scope="col" class="num">
            Amount
          </th>
          <th scope="col">Valid for</th>
        </tr>
      </thead>
      <tbody>
        {grants.length === 0 ? (
          <tr>
            <td colspan={4} class="muted">
              Nothing granted.
            </td>
          </tr>
        ) : (
          grants.map((g) => (
            <tr>
              <td>
                <code>{g.id}</code>
              </td>
              <td>{g.type}</td>
              <td class="num">
                {g.percent !== undefined
                  ? `${g.percent}% of the invoice`
                  : formatAmount({
                      type: g.type,
                      amount: g.amount ?? 0,
                      currency: g.currency ?? null,
                      feature: g.feature ?? null,
                    })}
              </td>
              <td>
                {validity(g)}
                {mechanics(g) ? <span class="muted"> ({mechanics(g)})</span> : null}
              </td>
            </tr>
          ))
        )}
      </tbody>
    </table>
  </div>
);

export const SettingsPage: FC<{ ctx: PageContext; config: Config; bound: Record<string, boolean> }> = ({
  ctx,
  config,
  bound,
}) => {
  const { rules } = config;
  const integrations: [string, boolean, string][] = [
    [
      "Stripe webhook",
      config.stripeWebhookSecrets.length > 0,
      `${config.stripeWebhookSecrets.length} signing secret(s) in STRIPE_WEBHOOK_SECRETS`,
    ],
    ["Stripe API (credit as customer balance)", config.stripeSecretKey !== undefined, "STRIPE_SECRET_KEY"],
    [
      "Outbound events",
      config.eventsUrl !== undefined,
      config.eventsUrl ? `to ${config.eventsUrl}, ${config.eventsSecrets.length} signing secret(s)` : "EVENTS_URL",
    ],
    [
      "Cloudflare Access on /admin",
      config.access !== undefined,
      config.access ? `team ${config.access.teamDomain}` : "ACCESS_TEAM_DOMAIN, ACCESS_AUD",
    ],
    ["Admin keys", config.adminKeys.length > 0, `${config.adminKeys.length} key(s) in ADMIN_KEYS`],
    ["Widget origins", config.widgetOrigins.length > 0, config.widgetOrigins.join(", ") || "WIDGET_ORIGINS"],
    [
      "Promotion codes for referees",
      config.refereeCoupon !== undefined,
      config.refereeCoupon ? `coupon ${config.refereeCoupon}` : "REFEREE_COUPON",
    ],
    [
      "Click in the signup URL",
      config.attributionUrlParam !== null,
      config.attributionUrlParam ? `as ${config.attributionUrlParam}=` : "ATTRIBUTION_URL_PARAM is empty",
    ],
    ["Click log in R2", bound.CLICK_LOG === true, `CLICK_LOG bucket, kept ${config.clickRetentionDays} days`],
  ];
  return (
    <Layout ctx={ctx} title="Settings">
      <h1>Settings</h1>
      <p class="muted">
        Read-only: the effective configuration of this deployment. Change it in wrangler.toml, REWARD_RULES or the
        Worker's secrets. Secret values are never shown.
      </p>
      <div class="grid2">
        <section aria-labelledby="attribution-heading">
          <h2 id="attribution-heading">Attribution and cookie</h2>
          <dl class="facts" data-testid="attribution">
            <dt>Attribution window</dt>
            <dd>{`${formatNumber(config.attributionWindowMs / DAY_MS)} days`}</dd>
            <dt>Cookie</dt>
            <dd>
              <code>{config.cookieName}</code>
              {` · domain ${config.cookieDomain ?? "(the share link's host)"} · HttpOnly, Secure, SameSite=Lax`}
            </dd>
            <dt>Code prefix</dt>
            <dd>
              <code>{config.codePrefix}</code>
            </dd>
            <dt>Public URL</dt>
            <dd>{config.publicUrl ?? "(the request's origin)"}</dd>
            <dt>Signup URL</dt>
            <dd>{config.signupUrl}</dd>
            <dt>Clawback window</dt>
            <dd>{`${formatNumber(config.clawbackMs / DAY_MS)} days`}</dd>
            <dt>Click retention</dt>
            <dd>{`${formatNumber(config.clickRetentionDays)} days`}</dd>
            <dt>Click limit</dt>
            <dd>
              {config.clickLimitPerMinute > 0
                ? `${formatNumber(config.clickLimitPerMinute)} counted clicks per client address a minute (CLICK_LIMIT_PER_MINUTE, in the counters)`
                : "off (CLICK_LIMIT_PER_MINUTE = 0)"}
            </dd>
            <dt>Click rows kept in D1</dt>
            <dd>{`${formatNumber(config.clickLogHotDays)} days (the R2 click log keeps them all)`}</dd>
            <dt>Monthly cap</dt>
            <dd>{`${formatNumber(rules.caps.rewardedReferralsPerMonth)} rewarded referrals per referrer`}</dd>
            <dt>Widget product name</dt>
            <dd data-testid="widget-product-name">{config.widgetBrand.productName ?? "(none: generic wording)"}</dd>
            <dt>Widget share text</dt>
            <dd data-testid="widget-share-text">{config.widgetBrand.shareText}</dd>
            <dt>Widget brand colour</dt>
            <dd>
              <code data-testid="widget-brand-color">{config.widgetBrand.brandColor}</code>
            </dd>
          </dl>
        </section>
        <section aria-labelledby="integrations-heading">
          <h2 id="integrations-heading">Integrations</h2>
          <table data-testid="integrations">
            <tbody>
              {integrations.map(([name, on, detail]) => (
                <tr>
                  <th scope="row">{name}</th>
                  <td>
                    <span class={`badge ${on ? "active" : "pending"}`}>{on ? "configured" : "off"}</span>
                  </td>
                  <td>{detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>
      <section aria-labelledby="limits-heading">
        <h2 id="limits-heading">Rate limits</h2>
        <div class="scroll">
          <table data-testid="limits">
            <thead>
              <tr>
                <th scope="col">Binding</th>
                <th scope="col">Per</th>
                <th scope="col" class="num">
                  Budget
                </th>
                <th scope="col">Bound</th>
              </tr>
            </thead>
            <tbody>
              {RATE_LIMITS.map((l) => (
                <tr>
                  <td>
                    <code>{l.binding}</code>
                  </td>
                  <td>{l.per}</td>
                  <td class="num">{`${formatNumber(l.limit)} / ${l.period} s`}</td>
                  <td>{bound[l.binding] ? "yes" : "no (no limit)"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="rules-heading">
        <h2 id="rules-heading">Reward rules</h2>
        <p>
          {"Reward types: "}
          {Object.entries(rules.rewardTypes)
            .map(([type, { kind }]) => `${type} (${kind})`)
            .join(", ")}
        </p>
        <div class="grid2">
          <GrantTable caption="On signup, to the referrer (within the monthly cap)" grants={rules.signup.referrer} />
          <GrantTable caption="On signup, to the referee" grants={rules.signup.referee} />
          <GrantTable caption="On conversion, to the referrer" grants={rules.conversion.referrer} />
          <GrantTable caption="On conversion, to the referee" grants={rules.conversion.referee} />
        </div>
        {rules.milestones.map((m) => (
          <GrantTable
            caption={`Milestone ${m.id}: at ${formatNumber(m.signups)} ${rules.qualifiedBy === "conversion" ? "qualified conversions" : "signups"}`}
            grants={m.grants}
          />
        ))}
        {rules.multipliers.length === 0 ? (
          <p class="empty">No multipliers (promotions) configured.</p>
        ) : (
          <ul>
            {rules.multipliers.map((m) => (
              <li>{`${m.id}: ×${m.factor} on ${m.triggers.join(", ")} from ${m.from} until ${m.until}`}</li>
            ))}
          </ul>
        )}
      </section>
    </Layout>
  );
};
