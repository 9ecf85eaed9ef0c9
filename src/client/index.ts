import type { Hono } from "hono";
import { type ClientResponse, hc, parseResponse } from "hono/client";
import type { BlankEnv } from "hono/types";
import type { ApiSchema } from "./api-schema";

export { verifyEventSignature } from "../domain/event-signature";

/** Options of {@link createReferralClient}. */
export interface ReferralClientOptions {
  /** Where the service answers, e.g. `https://refer.example.com`. */
  baseUrl: string;
  /** One of the service's `API_KEYS`. Keep it on your backend. */
  apiKey: string;
  /** A `fetch` to send requests with (a test double, a proxy); the global one by default. */
  fetch?: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
}

/**
 * An answer of the service that is not a success: the status and the
 * service's error envelope `{ "error": { "code", "message", "field"? } }`.
 */
export class ReferralApiError extends Error {
  override readonly name = "ReferralApiError";
  constructor(
    /** The HTTP status, e.g. 400, 404, 409, 422, 429. */
    readonly status: number,
    /** The service's error code, e.g. `invalid_request`, `self_referral`, `not_found`. */
    readonly code: string,
    message: string,
    /** The request field a validation error is about, when there is one. */
    readonly field?: string,
  ) {
    super(message);
  }

  /** Reads an error answer; a body that is not the service's envelope keeps the status. */
  static async from(res: Response): Promise<ReferralApiError> {
    const text = await res.text();
    try {
      const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; field?: unknown } };
      if (error && typeof error.code === "string" && typeof error.message === "string")
        return new ReferralApiError(
          res.status,
          error.code,
          error.message,
          typeof error.field === "string" ? error.field : undefined,
        );
    } catch {
      // not JSON: a proxy's page, say
    }
    return new ReferralApiError(res.status, "http_error", `${res.status} ${res.statusText}`.trim());
  }
}

type Routes = ReturnType<typeof hc<Hono<BlankEnv, ApiSchema, "/">>>;

/** The service's API for your backend: every `/api/*` route, typed from the service's own schemas. */
export interface ReferralClient {
  /** The routes, as `hono/client` calls: `api.codes.$post({ json })`, `api.users[":userId"].entitlements.$get({ param })`, … */
  api: Routes["api"];
  /**
   * The success body of a call, typed by its route; any other answer throws
   * a {@link ReferralApiError}.
   */
  read<T extends ClientResponse<unknown>>(call: T | Promise<T>): ReturnType<typeof parseResponse<T>>;
}

/**
 * A typed client for the service's API. Every call carries the API key; a
 * call whose answer is not a success rejects with a {@link ReferralApiError}.
 */
export function createReferralClient(options: ReferralClientOptions): ReferralClient {
  const send = options.fetch ?? ((input, init) => fetch(input, init));
  const routes = hc<Hono<BlankEnv, ApiSchema, "/">>(options.baseUrl.replace(/\/+$/, ""), {
    headers: { authorization: `Bearer ${options.apiKey}` },
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await send(input, init);
      if (res.status >= 400) throw await ReferralApiError.from(res);
      return res;
    },
  });
  return {
    api: routes.api,
    read: (call) => parseResponse(call),
  };
}
