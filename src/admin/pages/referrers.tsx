import type { FC } from "hono/jsx";
import type { ReferralCodeRow } from "../../db/queries/codes";
import type { ReferralRow } from "../../db/queries/referrals";
import type { RewardRow } from "../../db/queries/rewards";
import type { adminAudit } from "../../db/schema";
import type { Entitlements } from "../../domain/ledger";
import type { CodeStats } from "../../services/codes";
import { CsrfField, formatAmount, formatNumber, Layout, type PageContext, Pager, Status, When } from "../layout";

export const ReferrersPage: FC<{
  ctx: PageContext;
  q: string;
  rows: (ReferralCodeRow & { granted: number; active: number })[];
  cursor?: string;
  next: string | null;
}> = ({ ctx, q, rows, cursor, next }) => (
  <Layout ctx={ctx} title="Referrers">
    <h1>Referrers</h1>
    <search>
      <form method="get" action="/admin/referrers" class="inline">
        <label>
          User id, code, or the start of a display name
          <input type="search" name="q" value={q} data-testid="search" />
        </label>
        <button type="submit">Search</button>
        {q ? (
          <a class="button secondary" href="/admin/referrers">
            Clear
          </a>
        ) : null}
      </form>
    </search>
    <section aria-labelledby="list-heading">
      <h2 id="list-heading">{q ? `Referrers matching “${q}”` : "All referrers, most signups first"}</h2>
      {rows.length === 0 ? (
        <p class="empty">
          {q
            ? "No referrer matches. Search by the exact user id or code, or by the first letters of a display name."
            : "No referrers yet. A user becomes one when the host product creates their code (POST /api/codes)."}
        </p>
      ) : (
        <div class="scroll">
          <table data-testid="referrers">
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
                <th scope="col" class="num">
                  Rewards (active)
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr>
                  <td>
                    <a href={`/admin/referrers/${encodeURIComponent(r.userId)}`}>{r.userId}</a>
                    {r.displayName ? <div class="muted">{r.displayName}</div> : null}
                  </td>
                  <td>
                    <code>{r.code}</code>
                  </td>
                  <td class="num">{formatNumber(r.signups)}</td>
                  <td class="num">{formatNumber(r.conversions)}</td>
                  <td class="num">{`${formatNumber(r.granted)} (${formatNumber(r.active)})`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager base="/admin/referrers" params={{ q: q || undefined, cursor }} next={next} />
    </section>
  </Layout>
);

export type AuditRow = typeof adminAudit.$inferSelect;

export interface ReferrerView {
  userId: string;
  code: { row: ReferralCodeRow; stats: CodeStats } | undefined;
  referrals: { referral: ReferralRow; clickedAt: number | null }[];
  referralsNext: string | null;
  referralsCursor?: string;
  ledger: RewardRow[];
  ledgerNext: string | null;
  ledgerCursor?: string;
  entitlements: Entitlements;
  audit: AuditRow[];
  rewardTypes: string[];
  notice?: string;
}

/** The action a ledger entry offers, by its status: what the ledger's transitions allow. */
function actionsFor(reward: RewardRow): [string, string][] {
  if (reward.amount < 0) return [];
  switch (reward.status) {
    case "active":
      return [
        ["hold", "Hold"],
        ["revoke", "Revoke"],
      ];
    case "pending":
      return [
        ["release", "Release"],
        ["revoke", "Revoke"],
      ];
    case "redeemed":
      return reward.dedupeKey.endsWith(":clawback") ? [] : [["revoke", "Claw back"]];
    default:
      return [];
  }
}

export const ReferrerPage: FC<{ ctx: PageContext; view: ReferrerView }> = ({ ctx, view }) => {
  const { code } = view;
  const base = `/admin/referrers/${encodeURIComponent(view.userId)}`;
  const counters: [string, string, number][] = code
    ? [
        ["clicks", "Clicks", code.stats.clicks],
        ["uniqueClicks", "Unique clicks", code.stats.uniqueClicks],
        ["botClicks", "Bot clicks", code.stats.botClicks],
        ["signups", "Signups", code.stats.signups],
        ["conversions", "Conversions", code.stats.conversions],
      ]
    : [];
  const quantities = Object.entries(view.entitlements.quantities);
  return (
    <Layout ctx={ctx} title={view.userId}>
      <h1>
        Referrer <code>{view.userId}</code>
      </h1>
      {view.notice ? (
        <p class="notice" role="status">
          {view.notice}
        </p>
      ) : null}
      <section aria-labelledby="code-heading">
        <h2 id="code-heading">Code and live counters</h2>
        {code ? (
          <>
            <p>
              Code <code data-testid="code">{code.row.code}</code>
              {code.row.displayName
                ? ` · shown as “${code.row.displayName}”`
                : " · no display name (masked on leaderboards)"}
              {" · created "}
              <When at={code.row.createdAt} />
            </p>
            <ul class="cards">
              {counters.map(([key, label, value]) => (
                <li>
                  <span class="value" data-stat={key}>
                    {formatNumber(value)}
                  </span>
                  <span class="label">{label}</span>
                </li>
              ))}
            </ul>
            <p data-testid="click-log">
              {"Raw clicks, as NDJSON from the R2 click log: "}
              {[0, 1].map((ago) => {
                const day = new Date(Date.now() - ago * 86_400_000).toISOString().slice(0, 10);
                const href = `/admin/clicks?day=${day}&code=${encodeURIComponent(code.row.code)}`;
                return (
                  <>
                    {ago > 0 ? " · " : ""}
                    <a href={href}>{ago === 0 ? `today (${day})` : `yesterday (${day})`}</a>
                  </>
                );
              })}
              {" · any day: "}
              <code>{`GET /api/clicks?day=YYYY-MM-DD&code=${code.row.code}`}</code>
            </p>
          </>
        ) : (
          <p class="empty">This user has no referral code (a referee only, or erased). Their ledger is below.</p>
        )}
      </section>
      <section aria-labelledby="entitlements-heading">
        <h2 id="entitlements-heading">Entitlements now</h2>
        <ul class="cards">
          {quantities.map(([type, amount]) => (
            <li>
              <span class="value">{formatNumber(amount)}</span>
              <span class="label">{type.replace(/_/g, " ")}</span>
            </li>
          ))}
          <li>
            <span class="value">
              {formatAmount({
                type: "account_credit",
                amount: view.entitlements.creditCents,
                currency: "usd",
                feature: null,
              })}
            </span>
            <span class="label">account credit</span>
          </li>
          <li>
            <span class="value">{view.entitlements.features.map((f) => f.feature).join(", ") || "none"}</span>
            <span class="label">features unlocked</span>
          </li>
        </ul>
      </section>
      <section aria-labelledby="referrals-heading">
        <h2 id="referrals-heading">Referrals</h2>
        {view.referrals.length === 0 ? (
          <p class="empty">No referrals yet: nobody has signed up with this code.</p>
        ) : (
          <div class="scroll">
            <table data-testid="referrals">
              <thead>
                <tr>
                  <th scope="col">Referee</th>
                  <th scope="col">Source</th>
                  <th scope="col">Click</th>
                  <th scope="col">Signed up</th>
                  <th scope="col">Converted</th>
                  <th scope="col">Clawed back</th>
                </tr>
              </thead>
              <tbody>
                {view.referrals.map(({ referral: r, clickedAt }) => (
                  <tr>
                    <td>
                      <a href={`/admin/referrals/${encodeURIComponent(r.id)}`}>{r.refereeId}</a>
                      {r.referrerRewarded ? null : <div class="muted">referrer not rewarded (monthly cap)</div>}
                    </td>
                    <td>{r.source}</td>
                    <td>
                      <When at={clickedAt} />
                    </td>
                    <td>
                      <When at={r.signedUpAt} />
                    </td>
                    <td>
                      <When at={r.convertedAt} />
                    </td>
                    <td>
                      <When at={r.clawedBackAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager base={base} params={{ referrals: view.referralsCursor }} next={view.referralsNext} param="referrals" />
      </section>
      <section aria-labelledby="ledger-heading">
        <h2 id="ledger-heading">Ledger</h2>
        {view.ledger.length === 0 ? (
          <p class="empty">No ledger entries. Grant a manual reward below if this user is owed one.</p>
        ) : (
          <div class="scroll">
            <table data-testid="ledger">
              <thead>
                <tr>
                  <th scope="col">Created</th>
                  <th scope="col">Type</th>
                  <th scope="col" class="num">
                    Amount
                  </th>
                  <th scope="col">Status</th>
                  <th scope="col">Rule / trigger</th>
                  <th scope="col">Valid until</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {view.ledger.map((r) => (
                  <tr data-reward={r.id}>
                    <td>
                      <When at={r.createdAt} />
                    </td>
                    <td>{r.type}</td>
                    <td class="num">{formatAmount(r)}</td>
                    <td>
                      <Status status={r.status} />
                      {r.revokedBy ? <div class="muted">{`by ${r.revokedBy}`}</div> : null}
                      {r.status === "pending" && r.availableAt !== null ? (
                        <div class="muted">
                          available <When at={r.availableAt} />
                        </div>
                      ) : null}
                    </td>
                    <td>
                      {r.rule} / {r.trigger}
                      {r.referralId ? (
                        <div>
                          <a href={`/admin/referrals/${encodeURIComponent(r.referralId)}`}>the referral</a>
                        </div>
                      ) : null}
                    </td>
                    <td>
                      <When at={r.validUntil} />
                    </td>
                    <td>
                      {actionsFor(r).map(([action, label]) => (
                        <a class="button secondary" href={`/admin/rewards/${encodeURIComponent(r.id)}/${action}`}>
                          {label}
                        </a>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager base={base} params={{ ledger: view.ledgerCursor }} next={view.ledgerNext} param="ledger" />
      </section>
      <section aria-labelledby="grant-heading">
        <h2 id="grant-heading">Grant a manual reward</h2>
        <form method="post" action={`${base}/grant`} class="inline">
          <CsrfField ctx={ctx} />
          <label>
            Type
            <select name="type" required>
              {view.rewardTypes.map((type) => (
                <option value={type}>{type}</option>
              ))}
            </select>
          </label>
          <label>
            Amount (units; cents for credit)
            <input type="number" name="amount" min="1" max="1000000" required value="1" />
          </label>
          <label>
            Valid for (days, empty: no end)
            <input type="number" name="validDays" min="1" max="3650" />
          </label>
          <label>
            Currency (credit only)
            <input type="text" name="currency" value="usd" pattern="[a-z]{3}" maxlength={3} />
          </label>
          <label>
            Feature (unlock only)
            <input type="text" name="feature" maxlength={64} />
          </label>
          <label>
            Note (why; stored in the audit log)
            <input type="text" name="note" required minlength={3} maxlength={500} />
          </label>
          <button type="submit">Review the grant</button>
        </form>
      </section>
      <section aria-labelledby="audit-heading">
        <h2 id="audit-heading">Audit log</h2>
        {view.audit.length === 0 ? (
          <p class="empty">No operator has acted on this user's ledger.</p>
        ) : (
          <div class="scroll">
            <table data-testid="audit">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Operator</th>
                  <th scope="col">Action</th>
                  <th scope="col">Reward</th>
                  <th scope="col">Note</th>
                </tr>
              </thead>
              <tbody>
                {view.audit.map((a) => (
                  <tr>
                    <td>
                      <When at={a.createdAt} />
                    </td>
                    <td>{a.actor}</td>
                    <td>{a.action}</td>
                    <td>
                      <code>{a.rewardId ?? "—"}</code>
                    </td>
                    <td>{a.note}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </Layout>
  );
};
