import { createMiddleware } from "hono/factory";
import { matchesAny } from "../domain/crypto";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";

/** The bearer credential of a request, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/** Lets a request through only with one of the configured API keys. */
export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  if (!token) throw new ApiError(401, "unauthorized", "Send an API key as `Authorization: Bearer <key>`");
  if (!(await matchesAny(token, c.var.config.apiKeys))) {
    throw new ApiError(401, "unauthorized", "The API key is not valid");
  }
  await next();
});
