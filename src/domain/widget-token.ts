import type { SigningKey } from "../config";
import { type OpenFailure, openToken, signToken } from "./signed-token";

/**
 * A browser's credential for the widget routes: a signed token scoped to one
 * user (`sub`) until `exp`, typed `widget` so no other token passes for it.
 */

export type WidgetTokenCheck =
  | { status: "valid"; userId: string; expiresAt: number }
  | { status: OpenFailure | "expired"; userId?: undefined; expiresAt?: undefined };

export function signWidgetToken(userId: string, expiresAt: number, key: SigningKey): Promise<string> {
  return signToken({ typ: "widget", sub: userId, exp: expiresAt }, key);
}

export async function verifyWidgetToken(
  token: string | undefined,
  keys: readonly SigningKey[],
  now: number,
): Promise<WidgetTokenCheck> {
  const opened = await openToken(token, keys);
  if (opened.status !== "valid") return { status: opened.status };
  const { typ, sub, exp } = opened.payload;
  if (typ !== "widget" || typeof sub !== "string" || typeof exp !== "number") return { status: "malformed" };
  if (now >= exp) return { status: "expired" };
  return { status: "valid", userId: sub, expiresAt: exp };
}
