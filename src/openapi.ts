import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "./env";
import { ApiError } from "./errors";

/** The error envelope as a schema, shared by every route's error responses. */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "invalid_request" }),
      message: z.string().openapi({ example: "userId: expected a string" }),
      field: z.string().optional().openapi({ example: "userId" }),
    }),
  })
  .openapi("Error");

export const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorSchema } },
});

/**
 * A router whose validation failures leave as the error envelope, naming the
 * first offending field. Every route file builds on this.
 */
export function createRouter<E extends AppEnv = AppEnv>() {
  return new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (result.success) return;
      const issue = result.error.issues[0];
      const field = issue && issue.path.length > 0 ? issue.path.join(".") : undefined;
      const message = issue ? `${field ? `${field}: ` : ""}${issue.message}` : "Invalid request";
      throw new ApiError(400, "invalid_request", message, field);
    },
  });
}
