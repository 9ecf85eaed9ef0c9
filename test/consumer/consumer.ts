// A host product's backend, type-checked against the built client alone
// (`npm run test:client`): it resolves `referral-edge/client` through the
// package's `exports`, with no path to this repository's sources.
import { createReferralClient, ReferralApiError, verifyEventSignature } from "referral-edge/client";

const referrals = createReferralClient({ baseUrl: "https://refer.example.com", apiKey: "key" });

export async function onSignup(userId: string, email: string, token?: string, ref?: string) {
  try {
    const { referral, rewards, tokenStatus } = await referrals.read(
      referrals.api.attributions.$post({ json: { refereeId: userId, email, token, code: ref } }),
    );
    const referrerId: string = referral.referrerId;
    const firstAmount: number | undefined = rewards[0]?.amount;
    const status: "valid" | "missing" | "malformed" | "unknown_key" | "tampered" | "expired" = tokenStatus;
    return { referrerId, firstAmount, status };
  } catch (error) {
    if (error instanceof ReferralApiError) {
      const why: string = error.code;
      const field: string | undefined = error.field;
      const status: number = error.status;
      return { refused: why, field, status };
    }
    throw error;
  }
}

export async function quotas(userId: string) {
  const now = await referrals.read(referrals.api.users[":userId"].entitlements.$get({ param: { userId } }));
  const messages: number = now.extraMessages;
  const features: { feature: string; until: string | null }[] = now.features;
  const { code, shareUrl } = await referrals.read(referrals.api.codes.$post({ json: { userId, name: "Alex" } }));
  const token: string = (await referrals.read(referrals.api["widget-tokens"].$post({ json: { userId } }))).token;
  return { messages, features, code, shareUrl, token };
}

export async function mistakes() {
  // @ts-expect-error: refereeId is required
  await referrals.api.attributions.$post({ json: { code: "DEVO-ALEX1234" } });
  // @ts-expect-error: there is no such route
  await referrals.api.referrals.$get();
  const created = await referrals.read(referrals.api.codes.$post({ json: { userId: "u" } }));
  // @ts-expect-error: a code has no amount
  created.amount;
}

export function receive(body: string, header: string): Promise<boolean> {
  return verifyEventSignature(body, header, "events-secret", Date.now());
}
