import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The one error shape every route answers with. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/** An expected failure with its status and a stable, machine-readable code. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  get body(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}
