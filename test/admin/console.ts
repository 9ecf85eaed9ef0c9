import { env } from "cloudflare:workers";
import { call, readSetCookie } from "../helpers";

/** Helpers for the operator's console tests: sign in as a browser would, and post its forms. */

export const ADMIN_KEY = "test-admin-key-0123456789";

let ip = 0;
/** A fresh client address per login, so the login rate limit of one test does not spill into another. */
export const nextIp = () => `198.51.100.${(ip++ % 250) + 1}`;

export interface Session {
  cookie: string;
}

export async function login(key = ADMIN_KEY, bindings: Env = env): Promise<Session> {
  const res = await call(
    "/admin/login",
    {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": nextIp() },
      body: new URLSearchParams({ key }),
    },
    bindings,
  );
  const cookie = readSetCookie(res, "admin_session");
  if (res.status !== 303 || !cookie) throw new Error(`login failed: ${res.status}`);
  return { cookie: `admin_session=${cookie.value}` };
}

export function page(session: Session | null, path: string, headers: Record<string, string> = {}, bindings = env) {
  return call(path, { headers: { ...(session ? { cookie: session.cookie } : {}), ...headers } }, bindings);
}

/** The CSRF token a page's forms carry. */
export async function csrfOf(session: Session, path = "/admin"): Promise<string> {
  const html = await (await page(session, path)).text();
  const token = html.match(/name="_csrf" value="([^"]+)"/)?.[1];
  if (!token) throw new Error(`no CSRF field on ${path}`);
  return token;
}

export function post(
  session: Session | null,
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
  bindings = env,
) {
  return call(
    path,
    {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...(session ? { cookie: session.cookie } : {}),
        ...headers,
      },
      body: new URLSearchParams(fields),
    },
    bindings,
  );
}
