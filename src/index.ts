import { app } from "./app";
import { getConfig } from "./config";
import { followShareLink, shareLinkCode } from "./routes/redirect";
import { runScheduled } from "./scheduled";

export type { AppType } from "./app";
export { CodeCounter } from "./durable-objects/code-counter";
export { EventOutbox } from "./durable-objects/event-outbox";

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext) {
    // The share link is the hot path: matched here with one precompiled check,
    // before the general router, its middleware and its schema validation.
    const code = shareLinkCode(request);
    if (code !== null) {
      let config: ReturnType<typeof getConfig> | undefined;
      try {
        config = getConfig(env);
      } catch {
        // A bad configuration is answered by the app, with the error it names.
      }
      if (config) return followShareLink(request, env, ctx, code, config);
    }
    return app.fetch(request, env, ctx);
  },
  async scheduled(controller, env) {
    await runScheduled(env, controller.scheduledTime);
  },
} satisfies ExportedHandler<Env>;
