import type { FC } from "hono/jsx";
import type { ReferralSource } from "../../domain/attribution-source";
import { formatAmount, formatMoney, Layout, type PageContext, Status, When } from "../layout";
import type { referralStory } from "../queries";

/** How each carrier reads in the timeline and the details. */
const SOURCE_TEXT: Record<ReferralSource, string> = {
  cookie: "the attribution cookie of that click",
  url: "that click's token, carried in the signup URL",
  promotion_code: "the referrer's Stripe promotion code, used at checkout",
  code: "the code alone (no click token)",
  email_match: "an email match",
};

type Story = NonNullable<Awaited<ReturnType<typeof referralStory>>>;

interface Moment {
  at: number;
  kind: string;
  text: string;
  href?: string;
}

/** Every fact of the story as a moment in time, oldest first. */
function momentsOf(story: Story, clawbackDays: number): Moment[] {
  const { referral: r, click, payments, charges, disputes, ledger, audit } = story;
  const moments: Moment[] = [];
  if (click) {
    const where = [click.country && `from ${click.country}`, click.referrerHost && `via ${click.referrerHost}`]
      .filter(Boolean)
      .join(" ");
    moments.push({
      at: click.clickedAt,
      kind: "click",
      text:
        click.agentFamily === null
          ? "Clicked the share link (only the time is known: the click had left the click log's hot window)."
          : `Clicked the share link ${where || "(no country or referring site known)"}, ${click.agentFamily}.`,
    });
  }
  moments.push({
    at: r.signedUpAt,
    kind: "signup",
    text: `Signed up, attributed to ${r.referrerId} by ${SOURCE_TEXT[r.source]}. ${r.referrerRewarded ? "The referrer is rewarded for it." : "The referrer is not rewarded for it: the monthly cap of rewarded referrals was reached."}`,
  });
  for (const p of payments) {
    moments.push({
      at: p.paidAt,
      kind: "payment",
      text: `Paid ${formatMoney(p.amount, p.currency)} (Stripe ${p.id})${p.id === r.conversionPaymentId ? ": the converting payment" : ""}.`,
    });
  }
  if (r.convertedAt !== null) {
    moments.push({
      at: r.convertedAt,
      kind: "conversion",
      text: "Converted: the first payment counts for the referral.",
    });
  }
  for (const ch of charges) {
    moments.push({
      at: ch.createdAt,
      kind: "charge",
      text: `Charge ${ch.id} of ${formatMoney(ch.amount, ch.currency)}, ${formatMoney(ch.amountRefunded, ch.currency)} refunded so far.`,
    });
    if (ch.fullyRefundedAt !== null) {
      moments.push({ at: ch.fullyRefundedAt, kind: "refund", text: `Charge ${ch.id} fully refunded.` });
    }
  }
  for (const d of disputes) {
    moments.push({ at: d.statusAt, kind: "dispute", text: `Dispute ${d.id} on charge ${d.chargeId}: ${d.status}.` });
  }
  if (r.fraudAt !== null) {
    moments.push({
      at: r.fraudAt,
      kind: "fraud",
      text: `Found to be a self-referral (${r.fraudReason}): the referee paid with a card or billing email the referrer used. Rewards earned within ${clawbackDays} days before it are taken back.`,
    });
  }
  if (r.clawedBackAt !== null) {
    moments.push({
      at: r.clawedBackAt,
      kind: "clawback",
      text:
        r.fraudAt !== null && r.clawedBackAt >= r.fraudAt
          ? "Conversion taken back: the referral is a self-referral."
          : `Conversion taken back: the converting payment was fully refunded within ${clawbackDays} days, or its dispute was lost.`,
    });
  }
  if (r.canceledAt !== null)
    moments.push({ at: r.canceledAt, kind: "cancel", text: "The referee's subscription ended." });
  for (const reward of ledger) {
    const who =
      reward.userId === r.referrerId ? "the referrer" : reward.userId === r.refereeId ? "the referee" : reward.userId;
    moments.push({
      at: reward.createdAt,
      kind: "ledger",
      text:
        reward.amount < 0
          ? `Debt entry for ${who}: ${formatAmount(reward)} ${reward.type} taken back (${reward.rule}, ${reward.trigger}).`
          : `Granted ${who} ${formatAmount(reward)} ${reward.type} by rule ${reward.rule} on ${reward.trigger}; now ${reward.status}.`,
      href: `/admin/referrers/${encodeURIComponent(reward.userId)}`,
    });
    if (reward.redeemedAt !== null) {
      moments.push({ at: reward.redeemedAt, kind: "ledger", text: `${who} redeemed the ${reward.rule} reward.` });
    }
    if (reward.revokedAt !== null) {
      moments.push({
        at: reward.revokedAt,
        kind: "ledger",
        text: `The ${reward.rule} reward of ${who} was revoked by ${reward.revokedBy ?? "the ledger"}.`,
      });
    }
  }
  for (const a of audit) {
    moments.push({ at: a.createdAt, kind: "operator", text: `${a.actor}: ${a.action} — “${a.note}”.` });
  }
  return moments.sort((a, b) => a.at - b.at);
}

export const ReferralPage: FC<{ ctx: PageContext; story: Story; clawbackDays: number }> = ({
  ctx,
  story,
  clawbackDays,
}) => {
  const { referral: r, ledger } = story;
  return (
    <Layout ctx={ctx} title={`Referral of ${r.refereeId}`}>
      <h1>
        Referral of <code>{r.refereeId}</code>
      </h1>
      <section aria-labelledby="facts-heading">
        <h2 id="facts-heading">The attribution</h2>
        <dl class="facts">
          <dt>Referee</dt>
          <dd>
            <a href={`/admin/referrers/${encodeURIComponent(r.refereeId)}`}>{r.refereeId}</a>
          </dd>
          <dt>Referrer</dt>
          <dd>
            <a href={`/admin/referrers/${encodeURIComponent(r.referrerId)}`}>{r.referrerId}</a> with code{" "}
            <code>{r.code}</code>
          </dd>
          <dt>Source</dt>
          <dd>{SOURCE_TEXT[r.source]}</dd>
          <dt>Referrer rewarded</dt>
          <dd data-testid="rewarded">{r.referrerRewarded ? "yes" : "no — over the monthly cap"}</dd>
          <dt>Status</dt>
          <dd>{r.clawedBackAt !== null ? "converted, then clawed back" : r.status.replace("_", " ")}</dd>
          {r.fraudReason !== null ? (
            <>
              <dt>Fraud</dt>
              <dd data-testid="fraud">
                <span class="badge revoked">{r.fraudReason}</span>
              </dd>
            </>
          ) : null}
          <dt>Referral id</dt>
          <dd>
            <code>{r.id}</code>
          </dd>
        </dl>
      </section>
      <section aria-labelledby="story-heading">
        <h2 id="story-heading">What happened, in order</h2>
        <ol class="story" data-testid="story">
          {momentsOf(story, clawbackDays).map((m) => (
            <li data-kind={m.kind}>
              <When at={m.at} /> <strong>{m.kind}</strong> {m.text} {m.href ? <a href={m.href}>ledger</a> : null}
            </li>
          ))}
        </ol>
      </section>
      <section aria-labelledby="ledger-heading">
        <h2 id="ledger-heading">Ledger entries this referral caused</h2>
        {ledger.length === 0 ? (
          <p class="empty">No ledger entries: nothing was granted for this referral (check the rules in Settings).</p>
        ) : (
          <div class="scroll">
            <table data-testid="referral-ledger">
              <thead>
                <tr>
                  <th scope="col">Created</th>
                  <th scope="col">User</th>
                  <th scope="col">Rule</th>
                  <th scope="col" class="num">
                    Amount
                  </th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {ledger.map((reward) => (
                  <tr data-reward={reward.id}>
                    <td>
                      <When at={reward.createdAt} />
                    </td>
                    <td>
                      <a href={`/admin/referrers/${encodeURIComponent(reward.userId)}`}>{reward.userId}</a>
                    </td>
                    <td>{`${reward.rule} (${reward.trigger})`}</td>
                    <td class="num">{formatAmount(reward)}</td>
                    <td>
                      <Status status={reward.status} />
                      {reward.status === "pending" && reward.availableAt !== null ? (
                        <div class="muted">
                          available <When at={reward.availableAt} />
                        </div>
                      ) : null}
                    </td>
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
