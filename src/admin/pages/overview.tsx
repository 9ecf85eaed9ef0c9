import type { FC } from "hono/jsx";
import type { ReferralRow } from "../../db/queries/referrals";
import type { programStats } from "../../services/widgets";
import { formatMoney, formatNumber, formatRate, Layout, type PageContext, When } from "../layout";

type Stats = Awaited<ReturnType<typeof programStats>>;
export interface DayPoint {
  day: string;
  clicks: number;
  signups: number;
  conversions: number;
}

const Chart: FC<{ days: DayPoint[] }> = ({ days }) => {
  const width = 720;
  const height = 200;
  const pad = 28;
  const max = Math.max(1, ...days.map((d) => Math.max(d.clicks, d.signups, d.conversions)));
  const step = (width - pad * 2) / Math.max(1, days.length);
  const y = (value: number) => height - pad - (value / max) * (height - pad * 2);
  const line = (pick: (d: DayPoint) => number) =>
    days.map((d, i) => `${(pad + i * step + step / 2).toFixed(1)},${y(pick(d)).toFixed(1)}`).join(" ");
  const sum = (pick: (d: DayPoint) => number) => days.reduce((total, d) => total + pick(d), 0);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="chart-title" data-testid="chart">
        <title id="chart-title">
          {`${days.length} days: ${formatNumber(sum((d) => d.clicks))} clicks, ${formatNumber(sum((d) => d.signups))} signups, ${formatNumber(sum((d) => d.conversions))} conversions`}
        </title>
        <line x1={pad} y1={height - pad} x2={width - pad} y2={height - pad} stroke="#6b7280" />
        {days.map((d, i) => (
          <rect
            x={pad + i * step + 1}
            y={y(d.clicks)}
            width={Math.max(1, step - 2)}
            height={height - pad - y(d.clicks)}
            fill="#6366f1"
          />
        ))}
        <polyline points={line((d) => d.signups)} fill="none" stroke="#b45309" stroke-width="2" />
        <polyline points={line((d) => d.conversions)} fill="none" stroke="#047857" stroke-width="2" />
        <text x={pad} y={height - 8} font-size="11" fill="#374151">
          {days[0]?.day ?? ""}
        </text>
        <text x={width - pad} y={height - 8} font-size="11" fill="#374151" text-anchor="end">
          {days.at(-1)?.day ?? ""}
        </text>
        <text x={pad} y={16} font-size="11" fill="#374151">
          {`max ${formatNumber(max)}`}
        </text>
      </svg>
      <figcaption class="legend">
        <span class="clicks">Clicks (bars)</span>
        <span class="signups">Signups</span>
        <span class="conversions">Conversions</span>
      </figcaption>
      <details>
        <summary>The numbers behind the chart</summary>
        <div class="scroll">
          <table data-testid="daily-table">
            <caption>Daily clicks, signups and conversions (UTC days, flushed clicks)</caption>
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col" class="num">
                  Clicks
                </th>
                <th scope="col" class="num">
                  Signups
                </th>
                <th scope="col" class="num">
                  Conversions
                </th>
              </tr>
            </thead>
            <tbody>
              {days.map((d) => (
                <tr>
                  <th scope="row">{d.day}</th>
                  <td class="num">{formatNumber(d.clicks)}</td>
                  <td class="num">{formatNumber(d.signups)}</td>
                  <td class="num">{formatNumber(d.conversions)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
};

export const OverviewPage: FC<{ ctx: PageContext; stats: Stats; days: DayPoint[]; latest: ReferralRow[] }> = ({
  ctx,
  stats,
  days,
  latest,
}) => {
  const cards: [string, string, string][] = [
    ["clicks", "Clicks", formatNumber(stats.clicks)],
    ["uniqueClicks", "Unique clicks", formatNumber(stats.uniqueClicks)],
    ["botClicks", "Bot clicks", formatNumber(stats.botClicks)],
    ["signups", "Signups", formatNumber(stats.signups)],
    ["conversions", "Conversions", formatNumber(stats.conversions)],
    ["conversionRate", "Conversion rate", formatRate(stats.conversionRate)],
    ["granted", "Rewards granted", formatNumber(stats.rewards.granted)],
    ["redeemed", "Rewards redeemed", formatNumber(stats.rewards.redeemed)],
    ["expired", "Rewards expired", formatNumber(stats.rewards.expired)],
    ["revoked", "Rewards revoked", formatNumber(stats.rewards.revoked)],
    ["redemptionRate", "Redemption rate", formatRate(stats.rewards.redemptionRate)],
  ];
  return (
    <Layout ctx={ctx} title="Overview">
      <h1>Overview</h1>
      <form method="get" action="/admin" class="inline" aria-label="Range">
        <label>
          From
          <input type="date" name="from" value={stats.from} />
        </label>
        <label>
          To
          <input type="date" name="to" value={stats.to} />
        </label>
        <button type="submit">Show</button>
        <span class="muted">{`UTC days ${stats.from} to ${stats.to}, as GET /api/stats reports them`}</span>
      </form>
      <section aria-labelledby="numbers-heading">
        <h2 id="numbers-heading">Headline numbers</h2>
        <ul class="cards">
          {cards.map(([key, label, value]) => (
            <li>
              <span class="value" data-stat={key}>
                {value}
              </span>
              <span class="label">{label}</span>
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="revenue-heading">
        <h2 id="revenue-heading">Revenue from referees</h2>
        {stats.revenue.length === 0 ? (
          <p class="empty">
            No referee payments in this range. Revenue appears once Stripe webhooks report paid invoices.
          </p>
        ) : (
          <div class="scroll">
            <table data-testid="revenue">
              <thead>
                <tr>
                  <th scope="col">Currency</th>
                  <th scope="col" class="num">
                    Gross
                  </th>
                  <th scope="col" class="num">
                    Refunded
                  </th>
                  <th scope="col" class="num">
                    Net
                  </th>
                </tr>
              </thead>
              <tbody>
                {stats.revenue.map((r) => (
                  <tr>
                    <th scope="row">{r.currency.toUpperCase()}</th>
                    <td class="num">{formatMoney(r.gross, r.currency)}</td>
                    <td class="num">{formatMoney(r.refunded, r.currency)}</td>
                    <td class="num">{formatMoney(r.net, r.currency)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="chart-heading">
        <h2 id="chart-heading">Daily activity</h2>
        <Chart days={days} />
      </section>
      <div class="grid2">
        <section aria-labelledby="top-heading">
          <h2 id="top-heading">Top referrers, all time</h2>
          {stats.topReferrers.length === 0 ? (
            <p class="empty">
              No referrers yet. Codes appear here once the host product creates them (POST /api/codes).
            </p>
          ) : (
            <div class="scroll">
              <table data-testid="top-referrers">
                <thead>
                  <tr>
                    <th scope="col">Referrer</th>
                    <th scope="col">Code</th>
                    <th scope="col" class="num">
                      Signups
                    </th>
                    <th scope="col" class="num">
                      Conversions
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {stats.topReferrers.map((r) => (
                    <tr>
                      <td>
                        <a href={`/admin/referrers/${encodeURIComponent(r.userId)}`}>{r.displayName ?? r.userId}</a>
                      </td>
                      <td>
                        <code>{r.code}</code>
                      </td>
                      <td class="num">{formatNumber(r.signups)}</td>
                      <td class="num">{formatNumber(r.conversions)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
        <section aria-labelledby="latest-heading">
          <h2 id="latest-heading">Latest referrals</h2>
          {latest.length === 0 ? (
            <p class="empty">No referrals yet. They appear when the signup backend calls POST /api/attributions.</p>
          ) : (
            <div class="scroll">
              <table data-testid="latest-referrals">
                <thead>
                  <tr>
                    <th scope="col">Referee</th>
                    <th scope="col">Referrer</th>
                    <th scope="col">Signed up</th>
                    <th scope="col">Status</th>
                  </tr>
                </thead>
                <tbody>
                  {latest.map((r) => (
                    <tr>
                      <td>
                        <a href={`/admin/referrals/${encodeURIComponent(r.id)}`}>{r.refereeId}</a>
                      </td>
                      <td>
                        <a href={`/admin/referrers/${encodeURIComponent(r.referrerId)}`}>{r.referrerId}</a>
                      </td>
                      <td>
                        <When at={r.signedUpAt} />
                      </td>
                      <td>{r.clawedBackAt ? "clawed back" : r.status.replace("_", " ")}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      </div>
    </Layout>
  );
};
