import type { FC } from "hono/jsx";
import type { blockedAttributions } from "../../db/schema";
import { Layout, type PageContext, Pager, When } from "../layout";

type Blocked = typeof blockedAttributions.$inferSelect;

export const FraudPage: FC<{
  ctx: PageContext;
  rows: Blocked[];
  reasons: string[];
  reason?: string;
  cursor?: string;
  next: string | null;
}> = ({ ctx, rows, reasons, reason, cursor, next }) => (
  <Layout ctx={ctx} title="Fraud review">
    <h1>Fraud review</h1>
    <p class="muted">
      Attributions the service refused (recorded, never rewarded), and referrals found to be self-referrals when the
      referee paid with their referrer's card or billing email (<code>self_referral_payment</code>: their rewards taken
      back as a refund would). Newest first.
    </p>
    <form method="get" action="/admin/fraud" class="inline">
      <label>
        Reason
        <select name="reason">
          <option value="">Every reason</option>
          {reasons.map((r) => (
            <option value={r} selected={r === reason}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Filter</button>
    </form>
    <section aria-labelledby="blocked-heading">
      <h2 id="blocked-heading">{reason ? `Refused for ${reason}` : "Refused attributions"}</h2>
      {rows.length === 0 ? (
        <p class="empty">
          {reason
            ? "None refused for this reason. Choose another reason, or every reason."
            : "Nothing refused yet. Self-referrals and other refused attributions appear here as the signup backend reports them."}
        </p>
      ) : (
        <div class="scroll">
          <table data-testid="blocked">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Referee</th>
                <th scope="col">Code</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr>
                  <td>
                    <When at={row.createdAt} />
                  </td>
                  <td>
                    <code>{row.refereeId}</code>
                  </td>
                  <td>
                    <a href={`/admin/referrers?q=${encodeURIComponent(row.code)}`}>
                      <code>{row.code}</code>
                    </a>
                  </td>
                  <td>
                    <span class="badge revoked">{row.reason}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager base="/admin/fraud" params={{ reason, cursor }} next={next} />
    </section>
  </Layout>
);
