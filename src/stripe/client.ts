import Stripe from "stripe";
import type { Config } from "../config";
import { ApiError } from "../errors";

/** Signatures older than this are refused: Stripe's own default tolerance. */
export const SIGNATURE_TOLERANCE_S = 300;

const cryptoProvider = Stripe.createSubtleCryptoProvider();
const now = () => Date.now();

/**
 * Verifies a webhook's raw body against every configured secret (several
 * during a rotation) and returns the event. Any failure is a 400: Stripe does
 * not retry those, and nothing has been read from the body yet.
 */
export async function verifyStripeEvent(
  body: string,
  signature: string | undefined,
  config: Config,
): Promise<Stripe.Event> {
  if (config.stripeWebhookSecrets.length === 0) {
    throw new ApiError(503, "webhooks_disabled", "STRIPE_WEBHOOK_SECRETS is not set: Stripe webhooks are disabled");
  }
  if (!signature) throw new ApiError(400, "invalid_signature", "Missing Stripe-Signature header");
  // Stripe's check bounds only the age; a timestamp from the future is no fresher, and refused too.
  const signedAt = Number(/(?:^|,)\s*t=(\d{1,12})(?:,|$)/.exec(signature)?.[1]);
  if (signedAt > now() / 1000 + SIGNATURE_TOLERANCE_S) {
    throw new ApiError(400, "invalid_signature", "The Stripe signature's timestamp is in the future");
  }
  for (const secret of config.stripeWebhookSecrets) {
    try {
      return await Stripe.webhooks.constructEventAsync(body, signature, secret, SIGNATURE_TOLERANCE_S, cryptoProvider);
    } catch (error) {
      // The signature matched but the body is not JSON.
      if (error instanceof SyntaxError) throw new ApiError(400, "invalid_json", "The body is not JSON");
      // Otherwise try the next secret; the failure is reported below.
    }
  }
  throw new ApiError(400, "invalid_signature", "The Stripe signature does not match, or is older than 300 s");
}

/** A Stripe API client over fetch, or null when no secret key is configured. */
export function stripeClient(config: Config): Stripe | null {
  if (!config.stripeSecretKey) return null;
  const base = config.stripeApiBase ? new URL(config.stripeApiBase) : undefined;
  return new Stripe(config.stripeSecretKey, {
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: 1,
    timeout: 10_000,
    ...(base
      ? {
          host: base.hostname,
          port: base.port || (base.protocol === "http:" ? "80" : "443"),
          protocol: base.protocol === "http:" ? "http" : "https",
        }
      : {}),
  });
}
