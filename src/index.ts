import { app } from "./app";

export type { AppType } from "./app";
export { CodeCounter } from "./durable-objects/code-counter";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
