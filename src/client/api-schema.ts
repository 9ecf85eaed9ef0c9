import type { ExtractSchema } from "hono/types";
import type { AppType } from "../app";

type Schema = ExtractSchema<AppType>;

/**
 * The routes a backend calls with an API key (`/api/*`), with their inputs,
 * outputs and statuses. `npm run build:client` writes it out in full, so the
 * built client's declarations stand alone.
 */
export type ApiSchema = { [Path in keyof Schema as Path extends `/api/${string}` ? Path : never]: Schema[Path] };
