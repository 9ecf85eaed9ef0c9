import { raw } from "hono/html";
import type { Child, FC } from "hono/jsx";

/**
 * The console's frame: one nonce'd stylesheet, no script, no external asset.
 * Every page works without JavaScript; forms are plain POSTs with a CSRF field.
 */

/** What every page needs from the request: the CSP nonce and, once signed in, the operator and CSRF token. */
export interface PageContext {
  nonce: string;
  actor?: string;
  csrf?: string;
  /** The path, so the navigation can mark where the operator is. */
  path: string;
  /** A session to end; behind Cloudflare Access there is none. */
  signOut?: boolean;
}

const STYLE = `
:root { color-scheme: light; --ink: #111827; --muted: #4b5563; --line: #d1d5db; --accent: #3730a3; --bg: #ffffff; --soft: #f3f4f6; --bad: #991b1b; --good: #14532d; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 8px; z-index: 2; }
header.top { background: #1e1b4b; color: #fff; }
header.top .bar { max-width: 1200px; margin: 0 auto; padding: 10px 16px; display: flex; flex-wrap: wrap; gap: 8px 20px; align-items: center; }
header.top a { color: #fff; text-decoration: none; padding: 4px 2px; }
header.top a[aria-current="page"] { border-bottom: 3px solid #fbbf24; }
header.top .brand { font-weight: 700; margin-right: auto; }
header.top nav ul { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; margin: 0; padding: 0; }
header.top form { margin: 0; display: flex; gap: 8px; align-items: center; }
header.top .who { color: #e0e7ff; font-size: 0.9rem; }
header.top button { background: transparent; color: #fff; border-color: #c7d2fe; padding: 4px 10px; }
main { max-width: 1200px; margin: 0 auto; padding: 16px; display: grid; gap: 20px; }
h1 { font-size: 1.4rem; margin: 0; } h2 { font-size: 1.1rem; margin: 0 0 8px; }
section { border: 1px solid var(--line); border-radius: 10px; padding: 14px; min-width: 0; }
.grid2 { display: grid; gap: 20px; grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr)); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; list-style: none; padding: 0; margin: 0; }
.cards li { background: var(--soft); border-radius: 8px; padding: 10px; }
.cards .value { display: block; font-size: 1.4rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.cards .label { color: var(--muted); font-size: 0.9rem; }
.scroll { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { text-align: left; padding: 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 0.9rem; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.9em; overflow-wrap: anywhere; }
form.inline { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; }
label { display: grid; gap: 2px; font-size: 0.9rem; color: var(--muted); }
input, select, textarea { font: inherit; color: var(--ink); padding: 6px 8px; border: 1px solid #6b7280; border-radius: 6px; background: #fff; min-width: 0; }
textarea { width: 100%; min-height: 4em; }
button, .button { font: inherit; padding: 6px 12px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 0.85rem; background: var(--soft); }
.badge.active, .badge.delivered { background: #dcfce7; color: var(--good); }
.badge.pending { background: #fef3c7; color: #78350f; }
.badge.revoked, .badge.expired, .badge.failing, .badge.unprocessable { background: #fee2e2; color: #7f1d1d; }
.badge.redeemed { background: #e0e7ff; color: #312e81; }
.error { color: var(--bad); font-weight: 600; } .notice { color: var(--good); font-weight: 600; }
.empty { color: var(--muted); margin: 0; }
.muted { color: var(--muted); }
.pager { display: flex; gap: 12px; margin-top: 8px; }
.chart svg { width: 100%; height: auto; display: block; }
.legend { color: var(--muted); font-size: 0.9rem; display: flex; gap: 16px; flex-wrap: wrap; }
.legend span::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 6px; }
.legend .clicks::before { background: #6366f1; } .legend .signups::before { background: #b45309; } .legend .conversions::before { background: #047857; }
details summary { cursor: pointer; color: var(--accent); }
ol.story { list-style: none; padding: 0; margin: 0; display: grid; gap: 8px; }
ol.story li { border-left: 4px solid var(--line); padding: 4px 10px; }
ol.story time { color: var(--muted); font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.login { max-width: 420px; margin: 10vh auto; }
.login form { display: grid; gap: 12px; }
@media (max-width: 600px) { main { padding: 10px; } th, td { padding: 4px; } .cards .value { font-size: 1.15rem; } }
`;

const NAV: [string, string][] = [
  ["/admin", "Overview"],
  ["/admin/referrers", "Referrers"],
  ["/admin/fraud", "Fraud review"],
  ["/admin/deliveries", "Deliveries"],
  ["/admin/settings", "Settings"],
];

export const Layout: FC<{ ctx: PageContext; title: string; children?: Child }> = ({ ctx, title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex" />
      <title>{`${title} · referral console`}</title>
      <style nonce={ctx.nonce}>{raw(STYLE)}</style>
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      {ctx.actor ? (
        <header class="top">
          <div class="bar">
            <span class="brand">Referral console</span>
            <nav aria-label="Console">
              <ul>
                {NAV.map(([href, label]) => (
                  <li>
                    <a
                      href={href}
                      aria-current={
                        (href === "/admin" ? ctx.path === "/admin" : ctx.path.startsWith(href)) ? "page" : undefined
                      }
                    >
                      {label}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
            <form method="post" action="/admin/logout">
              <span class="who" data-testid="actor">
                {ctx.actor}
              </span>
              <CsrfField ctx={ctx} />
              {ctx.signOut ? <button type="submit">Sign out</button> : null}
            </form>
          </div>
        </header>
      ) : null}
      <main id="main">{children}</main>
    </body>
  </html>
);

export const CsrfField: FC<{ ctx: PageContext }> = ({ ctx }) => <input type="hidden" name="_csrf" value={ctx.csrf} />;

/**
 * Links to the first and the next page of a list, keeping the other query
 * parameters; `param` names the list's cursor (a page can hold several lists).
 */
export const Pager: FC<{
  base: string;
  params: Record<string, string | undefined>;
  next: string | null;
  param?: string;
}> = ({ base, params, next, param = "cursor" }) => {
  const first = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => !!e[1]));
  const hasCursor = first.has(param);
  first.delete(param);
  if (!next && !hasCursor) return null;
  const later = new URLSearchParams(first);
  if (next) later.set(param, next);
  return (
    <nav class="pager" aria-label="Pages">
      {hasCursor ? <a href={`${base}${first.size ? `?${first}` : ""}`}>First page</a> : null}
      {next ? (
        <a href={`${base}?${later}`} rel="next">
          Next page
        </a>
      ) : null}
    </nav>
  );
};

export const Status: FC<{ status: string }> = ({ status }) => <span class={`badge ${status}`}>{status}</span>;

const numbers = new Intl.NumberFormat("en-US");
export const formatNumber = (value: number) => numbers.format(value);
export const formatRate = (ratio: number) =>
  new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 }).format(ratio);

/** Minor units (cents) as money in their currency. */
export function formatMoney(minor: number, currency: string): string {
  try {
    const format = new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() });
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(minor / 10 ** digits);
  } catch {
    return `${numbers.format(minor)} ${currency}`;
  }
}

const times = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});
/** A time in UTC, in a <time> element carrying the exact instant. */
export const When: FC<{ at: number | null | undefined }> = ({ at }) =>
  at === null || at === undefined ? (
    <span class="muted">—</span>
  ) : (
    <time datetime={new Date(at).toISOString()}>{`${times.format(at)} UTC`}</time>
  );

/** A ledger amount in its unit: money for credit, a count otherwise, a feature by name. */
export function formatAmount(reward: {
  type: string;
  amount: number;
  currency: string | null;
  feature: string | null;
}) {
  if (reward.feature) return `${reward.feature}${reward.amount < 0 ? " (debt)" : ""}`;
  if (reward.currency) return formatMoney(reward.amount, reward.currency);
  return formatNumber(reward.amount);
}

/** A page that says something is not there, and where to go instead. */
export const MissingPage: FC<{ ctx: PageContext; title: string; message: string }> = ({ ctx, title, message }) => (
  <Layout ctx={ctx} title={title}>
    <h1>{title}</h1>
    <p class="empty">{message}</p>
    <p>
      <a href="/admin/referrers">Search the referrers</a>
    </p>
  </Layout>
);
