import { eq } from "drizzle-orm";
import type { Db } from "../client";
import { referralCodes } from "../schema";

export type ReferralCodeRow = typeof referralCodes.$inferSelect;

export function findCode(db: Db, code: string): Promise<ReferralCodeRow | undefined> {
  return db.select().from(referralCodes).where(eq(referralCodes.code, code)).get();
}

export function findCodeByUser(db: Db, userId: string): Promise<ReferralCodeRow | undefined> {
  return db.select().from(referralCodes).where(eq(referralCodes.userId, userId)).get();
}

/**
 * Inserts a code unless its value or its user already exists. Both unique keys
 * are enforced by D1 in one statement, which is what keeps concurrent creators
 * apart. Returns the row when this call created it.
 */
export async function insertCode(db: Db, row: typeof referralCodes.$inferInsert): Promise<ReferralCodeRow | undefined> {
  const [created] = await db.insert(referralCodes).values(row).onConflictDoNothing().returning();
  return created;
}

export async function setDisplayName(db: Db, code: string, displayName: string | null) {
  const [row] = await db.update(referralCodes).set({ displayName }).where(eq(referralCodes.code, code)).returning();
  return row;
}
