import type { FC } from "hono/jsx";
import type { RewardRow } from "../../db/queries/rewards";
import type { ManualGrant } from "../actions";
import { CsrfField, formatAmount, Layout, type PageContext, Status, When } from "../layout";

export type RewardAction = "revoke" | "hold" | "release";

const TITLES: Record<RewardAction, string> = {
  revoke: "Revoke a reward",
  hold: "Put a reward on hold",
  release: "Release a held reward",
};

/** What the action will do to this entry, in the ledger's terms. */
function consequence(action: RewardAction, reward: RewardRow, clawback: boolean): string {
  if (action === "revoke" && clawback) {
    return `This reward was already spent, so it stays as it is and a debt entry of ${formatAmount({ ...reward, amount: -reward.amount })} is added to take it back. A reward.granted event is sent for the debt.`;
  }
  if (action === "revoke") {
    return "The reward moves to revoked, by the operator: final, never reinstated by Stripe facts. A reward.revoked event is sent.";
  }
  if (action === "hold") return "The reward moves to pending: it stops counting for entitlements until released.";
  return "The reward moves back to active and counts for entitlements again.";
}

export const ConfirmRewardAction: FC<{
  ctx: PageContext;
  action: RewardAction;
  reward: RewardRow;
  clawback: boolean;
  note?: string;
  error?: string;
}> = ({ ctx, action, reward, clawback, note, error }) => (
  <Layout ctx={ctx} title={TITLES[action]}>
    <h1>{TITLES[action]}</h1>
    <section aria-labelledby="reward-heading">
      <h2 id="reward-heading">The entry</h2>
      <dl class="facts">
        <dt>User</dt>
        <dd>
          <a href={`/admin/referrers/${encodeURIComponent(reward.userId)}`}>{reward.userId}</a>
        </dd>
        <dt>Reward</dt>
        <dd>
          {`${formatAmount(reward)} ${reward.type}, rule ${reward.rule} (${reward.trigger})`}{" "}
          <Status status={reward.status} />
        </dd>
        <dt>Created</dt>
        <dd>
          <When at={reward.createdAt} />
        </dd>
        <dt>Id</dt>
        <dd>
          <code>{reward.id}</code>
        </dd>
      </dl>
    </section>
    <section aria-labelledby="confirm-heading">
      <h2 id="confirm-heading">Confirm</h2>
      <p>{consequence(action, reward, clawback)}</p>
      <form method="post" action={`/admin/rewards/${encodeURIComponent(reward.id)}/${action}`}>
        <CsrfField ctx={ctx} />
        <input type="hidden" name="confirm" value="yes" />
        <label>
          Note (required: why, for the audit log)
          <textarea
            name="note"
            required
            minlength={3}
            maxlength={500}
            aria-describedby={error ? "action-error" : undefined}
          >
            {note ?? ""}
          </textarea>
        </label>
        {error ? (
          <p id="action-error" class="error" role="alert">
            {error}
          </p>
        ) : null}
        <p class="inline">
          <button type="submit" class={action === "revoke" ? "danger" : undefined}>
            {`Confirm: ${action === "revoke" && clawback ? "claw back" : action}`}
          </button>{" "}
          <a class="button secondary" href={`/admin/referrers/${encodeURIComponent(reward.userId)}`}>
            Cancel
          </a>
        </p>
      </form>
    </section>
  </Layout>
);

export const ConfirmGrant: FC<{ ctx: PageContext; grant: ManualGrant; note: string; error?: string }> = ({
  ctx,
  grant,
  note,
  error,
}) => {
  const action = `/admin/referrers/${encodeURIComponent(grant.userId)}/grant`;
  return (
    <Layout ctx={ctx} title="Grant a manual reward">
      <h1>Grant a manual reward</h1>
      <section aria-labelledby="confirm-heading">
        <h2 id="confirm-heading">Confirm</h2>
        <p>
          {`${grant.userId} gets ${formatAmount(grant)} ${grant.type}, active now, `}
          {grant.validDays === null ? "with no end." : `for ${grant.validDays} days.`}
          {" A reward.granted event is sent."}
        </p>
        <form method="post" action={action}>
          <CsrfField ctx={ctx} />
          <input type="hidden" name="confirm" value="yes" />
          <input type="hidden" name="type" value={grant.type} />
          <input type="hidden" name="amount" value={String(grant.amount)} />
          <input type="hidden" name="validDays" value={grant.validDays === null ? "" : String(grant.validDays)} />
          <input type="hidden" name="currency" value={grant.currency ?? ""} />
          <input type="hidden" name="feature" value={grant.feature ?? ""} />
          <label>
            Note (required: why, for the audit log)
            <textarea name="note" required minlength={3} maxlength={500}>
              {note}
            </textarea>
          </label>
          {error ? (
            <p class="error" role="alert">
              {error}
            </p>
          ) : null}
          <p class="inline">
            <button type="submit">Confirm: grant</button>{" "}
            <a class="button secondary" href={`/admin/referrers/${encodeURIComponent(grant.userId)}`}>
              Cancel
            </a>
          </p>
        </form>
      </section>
    </Layout>
  );
};
