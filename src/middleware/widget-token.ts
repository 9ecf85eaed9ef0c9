import { createMiddleware } from "hono/factory";
import { verifyWidgetToken } from "../domain/widget-token";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { bearerToken } from "./api-key";

export type WidgetEnv = AppEnv & { Variables: AppEnv["Variables"] & { widgetUserId: string } };

/**
 * Lets a request through only with a valid widget token, and pins it to that
 * token's user: API keys are not widget tokens and never pass here.
 */
export const requireWidgetToken = createMiddleware<WidgetEnv>(async (c, next) => {
  const check = await verifyWidgetToken(
    bearerToken(c.req.header("authorization")),
    c.var.config.widgetKeys,
    Date.now(),
  );
  if (check.status !== "valid") {
    const message =
      check.status === "expired"
        ? "The widget token has expired; ask the host product for a new one"
        : "Send a widget token as `Authorization: Bearer <token>`";
    throw new ApiError(401, check.status === "expired" ? "token_expired" : "unauthorized", message);
  }
  c.set("widgetUserId", check.userId);
  await next();
});
