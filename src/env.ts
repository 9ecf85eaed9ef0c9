import type { Config } from "./config";
import type { Db } from "./db/client";

/** The Hono environment: the Worker's bindings plus what middleware puts on the context. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    config: Config;
    db: Db;
  };
}
