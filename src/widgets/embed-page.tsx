import { raw } from "hono/html";
import type { Child, FC } from "hono/jsx";
import { accentPalette, shareMessage, type WidgetBrand } from "../domain/brand";
import { qrDataUrl } from "../domain/qr";
import type { leaderboard, userTimeseries, widgetSummary } from "../services/widgets";

/**
 * The embeddable referral card: server-rendered, readable without JavaScript
 * (the script only adds the copy button), styled inline under a nonce CSP.
 */

type Summary = Awaited<ReturnType<typeof widgetSummary>>;
type Series = Awaited<ReturnType<typeof userTimeseries>>;
type Board = Awaited<ReturnType<typeof leaderboard>>;
type Reward = Summary["rewards"]["recent"][number];
type Option = NonNullable<Reward["choices"]>[number];
type Offered = Pick<Option, "type" | "amount" | "currency" | "feature">;

const number = new Intl.NumberFormat("en-US");
const date = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });

const STYLE = `
:root { color-scheme: light; --ink: #1b1b2f; --muted: #4b5563; --line: #d1d5db; --bg: #ffffff; --soft: #f3f4f6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
main { max-width: 760px; margin: 0 auto; padding: 20px; display: grid; gap: 20px; }
h1 { font-size: 1.3rem; margin: 0; }
h2 { font-size: 1.05rem; margin: 0 0 8px; }
section { border: 1px solid var(--line); border-radius: 12px; padding: 16px; }
.link-row { display: flex; gap: 8px; flex-wrap: wrap; }
.link-row input { flex: 1 1 260px; min-width: 0; padding: 10px 12px; font: inherit; border: 1px solid var(--muted); border-radius: 8px; background: var(--soft); color: var(--ink); }
button, .share a { font: inherit; padding: 10px 14px; border-radius: 8px; border: 1px solid var(--accent); cursor: pointer; text-decoration: none; display: inline-block; }
button { background: var(--accent); color: var(--accent-ink); }
.share { display: flex; gap: 8px; flex-wrap: wrap; margin-top: 12px; padding: 0; list-style: none; }
.share a { color: var(--accent-text); background: var(--bg); }
button:focus-visible, a:focus-visible, input:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
.status { min-height: 1.5em; margin: 8px 0 0; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px; list-style: none; padding: 0; margin: 0; }
.cards li { background: var(--soft); border-radius: 10px; padding: 12px; }
.cards .value { display: block; font-size: 1.6rem; font-weight: 700; }
.cards .label { color: var(--muted); }
.chart { margin: 0; }
.chart svg { width: 100%; height: auto; display: block; }
.chart-axis { display: flex; justify-content: space-between; gap: 8px; margin: 2px 0 0; color: var(--muted); font-size: 12px; }
.legend { color: var(--muted); font-size: 0.9rem; margin: 6px 0 0; }
.legend .clicks::before, .legend .signups::before { content: ""; display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 6px 0 12px; }
.legend .clicks::before { background: #6366f1; }
.legend .signups::before { background: #b45309; border-radius: 50%; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 8px 6px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; font-size: 0.9rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 999px; font-size: 0.85rem; background: var(--soft); }
.badge.active { background: #dcfce7; color: #14532d; }
.badge.pending { background: #fef3c7; color: #78350f; }
.badge.revoked, .badge.expired { background: #fee2e2; color: #7f1d1d; }
.badge.redeemed { background: #e0e7ff; color: #312e81; }
tr.you td { font-weight: 700; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.empty { color: var(--muted); margin: 0; }
.qr { margin: 1rem 0 0; display: flex; align-items: center; gap: 0.75rem; }
.qr img { width: 128px; height: 128px; border: 1px solid var(--line); border-radius: 4px; }
.qr figcaption { color: var(--muted); }
.notice { margin: 0; padding: 12px 14px; border-radius: 10px; background: #dcfce7; color: #14532d; }
.problem { margin: 0; padding: 12px 14px; border-radius: 10px; background: #fee2e2; color: #7f1d1d; }
.pick { margin: 0 0 16px; }
.pick:last-child { margin-bottom: 0; }
.pick p { margin: 0 0 8px; color: var(--muted); }
.options { list-style: none; padding: 0; margin: 0; display: grid; gap: 8px; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); }
.options form { margin: 0; display: grid; gap: 4px; }
.options button { width: 100%; text-align: left; }
.options .until { color: var(--muted); font-size: 0.9rem; }
`;

const INK = "#1b1b2f";

/** The brand colour's rule: the colour was validated as #rrggbb at start, so nothing else reaches the CSS. */
function brandStyle(brand: WidgetBrand): string {
  const { accent, onAccent, accentText } = accentPalette(brand.brandColor, INK);
  return `:root { --accent: ${accent}; --accent-ink: ${onAccent}; --accent-text: ${accentText}; }`;
}

const COPY_SCRIPT = `
const input = document.getElementById("share-link");
const status = document.getElementById("copy-status");
const copy = (button, text, copied) => {
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text());
      status.textContent = copied;
    } catch {
      input.focus();
      input.select();
      status.textContent = "Press Ctrl+C (or Cmd+C) to copy the selected link.";
    }
  });
};
copy(document.getElementById("copy"), () => input.value, "Link copied to the clipboard.");
const message = document.getElementById("copy-message");
copy(message, () => message.dataset.message, "Message copied to the clipboard.");
// In a frame, tell the page around it how tall the card is, whenever that changes, so the
// frame can fit it (docs/widgets.md has the listener). Only a height leaves: no token, no data.
if (window.parent !== window) {
  const tell = () => window.parent.postMessage(
    { type: "referral-edge:height", height: Math.ceil(document.documentElement.getBoundingClientRect().height) },
    "*",
  );
  new ResizeObserver(tell).observe(document.body);
}
`;

const Layout: FC<{ nonce: string; title: string; brand: WidgetBrand; children?: Child }> = ({
  nonce,
  title,
  brand,
  children,
}) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex" />
      <title>{title}</title>
      <style nonce={nonce}>{raw(STYLE + brandStyle(brand))}</style>
    </head>
    <body>{children}</body>
  </html>
);

function rewardLabel(reward: Offered, signed = true): string {
  if (reward.type === "feature_unlock") return `${reward.feature ?? "Feature"} unlocked`;
  if (reward.currency) {
    const money = new Intl.NumberFormat("en-US", { style: "currency", currency: reward.currency.toUpperCase() });
    return `${money.format(reward.amount / 100)} credit`;
  }
  return `${signed && reward.amount > 0 ? "+" : ""}${number.format(reward.amount)} ${reward.type.replace(/^extra_/, "").replace(/_/g, " ")}`;
}

/** An option as the referrer reads it: its label, or what it grants ("50 messages + 25 requests"). */
function optionLabel(option: Option): string {
  return option.label ?? (option.grants ?? [option]).map((reward) => rewardLabel(reward, false)).join(" + ");
}

/** The option a chosen entry took, for the card's confirmation. */
function chosenOption(reward: Reward): Option | undefined {
  return reward.choices?.find((option) => option.id === reward.choice);
}

/**
 * The rewards waiting for the user to choose, each option a plain form: it
 * works without JavaScript, posts the widget token in its body (not only in
 * the URL) and comes back to the card (see routes/widgets.ts).
 */
const Picker: FC<{ awaiting: Reward[]; token: string }> = ({ awaiting, token }) => (
  <section aria-labelledby="choose-heading" data-testid="picker">
    <h2 id="choose-heading">Choose your reward</h2>
    {awaiting.map((reward) => {
      const [first] = reward.choices ?? [];
      return (
        <div class="pick" data-reward={reward.id}>
          <p>
            {reward.chooseBy
              ? `Pick one by ${date.format(new Date(reward.chooseBy))}; after that you get ${first ? optionLabel(first) : "the first"}.`
              : "Pick one."}
          </p>
          <ul class="options">
            {(reward.choices ?? []).map((option) => (
              <li>
                <form method="post" action={`/widgets/v1/embed/rewards/${reward.id}/choose`}>
                  <input type="hidden" name="token" value={token} />
                  <input type="hidden" name="choice" value={option.id} />
                  <button type="submit" data-choice={option.id}>
                    {optionLabel(option)}
                  </button>
                  <span class="until">
                    {option.validUntil ? `Until ${date.format(new Date(option.validUntil))}` : "Never expires"}
                  </span>
                </form>
              </li>
            ))}
          </ul>
        </div>
      );
    })}
  </section>
);

const Chart: FC<{ series: Series }> = ({ series }) => {
  const width = 600;
  const height = 160;
  const pad = 24;
  const max = Math.max(1, ...series.days.map((d) => Math.max(d.clicks, d.signups)));
  const step = (width - pad * 2) / series.days.length;
  const y = (value: number) => height - pad - (value / max) * (height - pad * 2);
  const first = series.days[0]?.day ?? "";
  const last = series.days.at(-1)?.day ?? "";
  const totalClicks = series.days.reduce((sum, d) => sum + d.clicks, 0);
  const totalSignups = series.days.reduce((sum, d) => sum + d.signups, 0);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="chart-title" data-testid="chart">
        <title id="chart-title">
          {`Last ${series.days.length} days: ${totalClicks} clicks and ${totalSignups} signups`}
        </title>
        <line x1={pad} y1={height - pad} x2={width - pad} y2={height - pad} stroke="#9ca3af" />
        {series.days.map((d, i) => (
          <rect
            x={pad + i * step + 1}
            y={y(d.clicks)}
            width={Math.max(1, step - 2)}
            height={height - pad - y(d.clicks)}
            fill="#6366f1"
          />
        ))}
        {series.days.map((d, i) =>
          d.signups > 0 ? <circle cx={pad + i * step + step / 2} cy={y(d.signups)} r="4" fill="#b45309" /> : null,
        )}
      </svg>
      {/* Labels in HTML, not SVG <text>: the SVG scales with the card's width (to half on a phone), text there would too. */}
      <p class="chart-axis" aria-hidden="true" data-testid="chart-axis">
        <span>{first}</span>
        <span>{`max ${max} a day`}</span>
        <span>{last}</span>
      </p>
      <figcaption class="legend">
        <span class="clicks">Clicks</span>
        <span class="signups">Signups</span>
      </figcaption>
      <div class="sr-only">
        <table>
          <caption>Daily clicks and signups</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Clicks</th>
              <th scope="col">Signups</th>
            </tr>
          </thead>
          <tbody>
            {series.days.map((d) => (
              <tr>
                <td>{d.day}</td>
                <td>{d.clicks}</td>
                <td>{d.signups}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
};

interface CardState {
  /** The widget token the card was loaded with: the picker's forms post it back. */
  token: string;
  /** The user's rewards waiting for them to choose. */
  awaiting: Reward[];
  /** A choice just taken, to confirm. */
  chosen?: Reward;
  /** Why the last action failed, in words for the user. */
  problem?: string;
}

export const EmbedPage: FC<
  { nonce: string; brand: WidgetBrand; summary: Summary; series: Series; board: Board } & CardState
> = ({ nonce, brand, summary, series, board, token, awaiting, chosen, problem }) => {
  const taken = chosen ? chosenOption(chosen) : undefined;
  const message = shareMessage(brand, summary.shareUrl);
  const text = encodeURIComponent(message);
  const url = encodeURIComponent(summary.shareUrl);
  const stats: [string, string, number][] = [
    ["clicks", "Clicks", summary.counters.clicks],
    ["signups", "Signups", summary.counters.signups],
    ["conversions", "Conversions", summary.counters.conversions],
  ];
  return (
    <Layout
      nonce={nonce}
      brand={brand}
      title={brand.productName ? `Your ${brand.productName} referrals` : "Your referrals"}
    >
      <main>
        <h1 data-testid="title">
          {brand.productName ? `Invite friends to ${brand.productName}, earn rewards` : "Invite friends, earn rewards"}
        </h1>

        {problem ? (
          <p class="problem" role="alert" data-testid="problem">
            {problem}
          </p>
        ) : null}
        {taken ? (
          <p class="notice" role="status" data-testid="notice">
            {`Your reward: ${optionLabel(taken)}.`}
          </p>
        ) : null}
        {awaiting.length > 0 ? <Picker awaiting={awaiting} token={token} /> : null}

        <section aria-labelledby="link-heading">
          <h2 id="link-heading">Your share link</h2>
          <div class="link-row">
            <label for="share-link" class="sr-only">
              Your share link
            </label>
            <input id="share-link" type="text" readonly value={summary.shareUrl} data-testid="share-link" />
            <button id="copy" type="button" hidden aria-describedby="copy-status">
              Copy link
            </button>
            <button
              id="copy-message"
              type="button"
              hidden
              aria-describedby="copy-status"
              data-message={message}
              data-testid="share-message"
            >
              Copy message
            </button>
          </div>
          <p id="copy-status" class="status" role="status" aria-live="polite" />
          <ul class="share" aria-label="Share on">
            <li>
              <a href={`https://twitter.com/intent/tweet?text=${text}`} target="_blank" rel="noopener noreferrer">
                Share on X
              </a>
            </li>
            <li>
              <a
                href={`https://www.linkedin.com/sharing/share-offsite/?url=${url}`}
                target="_blank"
                rel="noopener noreferrer"
              >
                Share on LinkedIn
              </a>
            </li>
            <li>
              <a
                href={`mailto:?subject=${encodeURIComponent(brand.productName ? `An invitation to ${brand.productName}` : "An invitation for you")}&body=${text}`}
              >
                Share by email
              </a>
            </li>
          </ul>
          <figure class="qr">
            <img
              src={qrDataUrl(summary.shareUrl)}
              alt="QR code of your share link"
              width="128"
              height="128"
              data-testid="qr"
            />
            <figcaption>Sharing in person? Let them scan this.</figcaption>
          </figure>
        </section>

        <section aria-labelledby="stats-heading">
          <h2 id="stats-heading">Your numbers</h2>
          <ul class="cards">
            {stats.map(([key, label, value]) => (
              <li>
                <span class="value" data-stat={key}>
                  {number.format(value)}
                </span>
                <span class="label">{label}</span>
              </li>
            ))}
          </ul>
        </section>

        <section aria-labelledby="chart-heading">
          <h2 id="chart-heading">Last 30 days</h2>
          <Chart series={series} />
        </section>

        <section aria-labelledby="rewards-heading">
          <h2 id="rewards-heading">Your rewards</h2>
          {summary.rewards.recent.length === 0 ? (
            <p class="empty">No rewards yet: they arrive when someone signs up with your link.</p>
          ) : (
            <table data-testid="rewards">
              <thead>
                <tr>
                  <th scope="col">Reward</th>
                  <th scope="col">Status</th>
                  <th scope="col">Expires</th>
                </tr>
              </thead>
              <tbody>
                {summary.rewards.recent.map((reward) => (
                  <tr>
                    <td>{rewardLabel(reward)}</td>
                    <td>
                      <span class={`badge ${reward.status}`}>{reward.status}</span>
                      {reward.choices && !reward.choice && reward.status === "pending" ? (
                        <span class="available"> choose above</span>
                      ) : reward.availableAt ? (
                        <span class="available">{` available on ${date.format(new Date(reward.availableAt))}`}</span>
                      ) : null}
                    </td>
                    <td>{reward.validUntil ? date.format(new Date(reward.validUntil)) : "Never"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>

        <section aria-labelledby="board-heading">
          <h2 id="board-heading">Leaderboard</h2>
          <table data-testid="leaderboard">
            <thead>
              <tr>
                <th scope="col" class="num">
                  #
                </th>
                <th scope="col">Referrer</th>
                <th scope="col" class="num">
                  Signups
                </th>
                <th scope="col" class="num">
                  Conversions
                </th>
              </tr>
            </thead>
            <tbody>
              {board.entries.map((entry) => (
                <tr class={entry.isYou ? "you" : undefined}>
                  <td class="num">{entry.rank}</td>
                  <td>{entry.isYou ? `${entry.name ?? "You"} (you)` : entry.name}</td>
                  <td class="num">{entry.signups}</td>
                  <td class="num">{entry.conversions}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {board.you && !board.entries.some((entry) => entry.isYou) ? (
            <p class="legend">{`You are #${board.you.rank} with ${board.you.signups} signups.`}</p>
          ) : null}
        </section>
      </main>
      <script nonce={nonce}>{raw(COPY_SCRIPT)}</script>
    </Layout>
  );
};

/** What a person sees instead of a stack trace: the widget could not be shown. */
export const EmbedProblem: FC<{ nonce: string; brand: WidgetBrand; heading: string; message: string }> = ({
  nonce,
  brand,
  heading,
  message,
}) => (
  <Layout nonce={nonce} brand={brand} title={heading}>
    <main>
      <section role="alert">
        <h1>{heading}</h1>
        <p>{message}</p>
      </section>
    </main>
  </Layout>
);
