import { app } from "./app";
import { runScheduled } from "./scheduled";

export type { AppType } from "./app";
export { CodeCounter } from "./durable-objects/code-counter";
export { EventOutbox } from "./durable-objects/event-outbox";

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    await runScheduled(env, controller.scheduledTime);
  },
} satisfies ExportedHandler<Env>;
