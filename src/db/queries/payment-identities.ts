import { and, eq, inArray, or, sql } from "drizzle-orm";
import type { PaymentIdentity } from "../../domain/self-referral";
import { type BatchItem, chunkRows, type Db } from "../client";
import { paymentIdentities, referralCodes, referrals } from "../schema";

/** Keeps a user's identities; a sighting earlier than the one kept moves it earlier, never later. */
export function recordIdentitiesStatements(
  db: Db,
  userId: string,
  identities: readonly PaymentIdentity[],
): BatchItem[] {
  return chunkRows(identities, 4).map((chunk) =>
    db
      .insert(paymentIdentities)
      .values(chunk.map((identity) => ({ userId, ...identity })))
      .onConflictDoUpdate({
        target: [paymentIdentities.kind, paymentIdentities.hash, paymentIdentities.userId],
        set: { seenAt: sql`min(${paymentIdentities.seenAt}, excluded.seen_at)` },
      }),
  );
}

/** A user's stored identities. */
export async function identitiesOf(db: Db, userId: string): Promise<PaymentIdentity[]> {
  return db
    .select({ kind: paymentIdentities.kind, hash: paymentIdentities.hash, seenAt: paymentIdentities.seenAt })
    .from(paymentIdentities)
    .where(eq(paymentIdentities.userId, userId));
}

/** The email a referrer gave with their code, as an identity known since the code was made. */
export async function codeEmailOf(db: Db, userId: string): Promise<PaymentIdentity[]> {
  const row = await db
    .select({ hash: referralCodes.emailHash, createdAt: referralCodes.createdAt })
    .from(referralCodes)
    .where(eq(referralCodes.userId, userId))
    .get();
  return row?.hash ? [{ kind: "email", hash: row.hash, seenAt: row.createdAt }] : [];
}

/**
 * The referrals of `referrerId` whose referee has paid with (or signed up
 * with, for an email) one of `identities`: the referrals a referrer's own
 * payment may turn into self-referrals.
 */
export async function referralsSharing(db: Db, referrerId: string, identities: readonly PaymentIdentity[]) {
  if (identities.length === 0) return [];
  // At most three parameters per identity (kind, hash, and the hash again for an email) leaves room for the referrer.
  const found = await Promise.all(
    chunkRows(identities, 4).map((chunk) => {
      const emails = chunk.filter((identity) => identity.kind === "email").map((identity) => identity.hash);
      const shared = db
        .select({ userId: paymentIdentities.userId })
        .from(paymentIdentities)
        .where(
          or(
            ...chunk.map((identity) =>
              and(eq(paymentIdentities.kind, identity.kind), eq(paymentIdentities.hash, identity.hash)),
            ),
          ),
        );
      return db
        .select()
        .from(referrals)
        .where(
          and(
            eq(referrals.referrerId, referrerId),
            or(
              inArray(referrals.refereeId, shared),
              emails.length > 0 ? inArray(referrals.refereeEmailHash, emails) : undefined,
            ),
          ),
        );
    }),
  );
  const byId = new Map(found.flat().map((referral) => [referral.id, referral]));
  return [...byId.values()];
}
