// A minimal host product: a signup page and backend on Node (Hono), wired to
// referral-edge through its client package. It shows the whole loop:
//   share link → this signup page (?ref=CODE, ref_click in the URL, the ref_token cookie)
//   → signup: the new user's code, the attribution, entitlements, the widget
//   → "Pay": Stripe-shaped checkout.session.completed + invoice.paid, signed
//     with the webhook secret, as Stripe would send them.
// Users live in memory and the session is a plain cookie: an example, not a product.
import { createHmac, randomUUID } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { html, raw } from "hono/html";
import { createReferralClient, ReferralApiError } from "referral-edge/client";

const REFERRAL_URL = process.env.REFERRAL_URL ?? "http://127.0.0.1:8787";
const PORT = Number(process.env.PORT ?? 8790);
const STRIPE_WEBHOOK_SECRET = process.env.STRIPE_WEBHOOK_SECRET ?? "whsec_local_development_secret_0000";

const referrals = createReferralClient({
  baseUrl: REFERRAL_URL,
  apiKey: process.env.REFERRAL_API_KEY ?? "local-dev-api-key",
});

/** @type {Map<string, { id: string, email: string, name: string, referredBy: string | null, shareUrl: string }>} */
const users = new Map();

const page = (title, body) => html`<!doctype html>
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>${title} · Example product</title>
    </head>
    <body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
      <h1>${title}</h1>
      ${body}
    </body>
  </html>`;

const app = new Hono();

// The signup page: the share link lands here with ?ref=CODE&ref_click=… (and the service's ref_token cookie).
app.get("/", (c) => {
  // The click also travels in the URL, for when the service's cookie cannot reach this domain:
  // keep it in a first-party cookie until signup, and take it out of the address bar.
  const click = c.req.query("ref_click");
  if (click) {
    setCookie(c, "ref_click", click, { httpOnly: true, sameSite: "Lax", path: "/", maxAge: 60 * 24 * 3600 });
    const url = new URL(c.req.url);
    url.searchParams.delete("ref_click");
    return c.redirect(`${url.pathname}${url.search}`, 302);
  }
  const ref = c.req.query("ref") ?? "";
  return c.html(
    page(
      "Sign up",
      html`${ref ? html`<p id="invited">You were invited with code <strong>${ref}</strong>.</p>` : ""}
        <form method="post" action="/signup">
          <input type="hidden" name="ref" value="${ref}" />
          <p><label>Name <input name="name" required /></label></p>
          <p><label>Email <input name="email" type="email" required /></label></p>
          <p><button type="submit">Create my account</button></p>
        </form>`,
    ),
  );
});

app.post("/signup", async (c) => {
  const form = await c.req.parseBody();
  const user = {
    id: `user_${randomUUID().slice(0, 8)}`,
    email: String(form.email),
    name: String(form.name),
    referredBy: null,
    shareUrl: "",
  };
  users.set(user.id, user);

  // Who brought them: the signed cookie the share link set, the same click kept from the URL,
  // and/or the ref code it added to the URL. The service decides which one wins.
  const token = getCookie(c, "ref_token");
  const urlToken = getCookie(c, "ref_click");
  const code = typeof form.ref === "string" && form.ref !== "" ? form.ref : undefined;
  if (token || urlToken || code) {
    try {
      const { referral } = await referrals.read(
        referrals.api.attributions.$post({ json: { refereeId: user.id, token, urlToken, code, email: user.email } }),
      );
      user.referredBy = referral.referrerId;
    } catch (error) {
      // A refused attribution (self-referral, unknown code) must not fail the signup.
      if (!(error instanceof ReferralApiError)) throw error;
      console.warn(`attribution refused: ${error.status} ${error.code}`);
    }
  }
  // Every user gets a code of their own to share.
  const mine = await referrals.read(
    referrals.api.codes.$post({ json: { userId: user.id, name: user.name, email: user.email } }),
  );
  user.shareUrl = mine.shareUrl;

  setCookie(c, "host_user", user.id, { path: "/", httpOnly: true, sameSite: "Lax" });
  return c.redirect("/dashboard", 303);
});

app.get("/dashboard", async (c) => {
  const user = users.get(getCookie(c, "host_user") ?? "");
  if (!user) return c.redirect("/", 303);
  const now = await referrals.read(referrals.api.users[":userId"].entitlements.$get({ param: { userId: user.id } }));
  // A fresh widget token on every page view: the card in the iframe reads with it, for an hour.
  const { token } = await referrals.read(referrals.api["widget-tokens"].$post({ json: { userId: user.id } }));
  return c.html(
    page(
      `Welcome, ${user.name}`,
      html`<h2>Your plan</h2>
        <ul id="entitlements">
          <li>Extra messages: <span id="extra-messages">${now.extraMessages}</span></li>
          <li>Extra requests: <span id="extra-requests">${now.extraRequests}</span></li>
          <li>Credit: <span id="credit">${(now.creditCents / 100).toFixed(2)}</span></li>
          <li>Features: <span id="features">${now.features.map((f) => f.feature).join(", ") || "none"}</span></li>
        </ul>
        <form method="post" action="/pay"><button type="submit">Pay $29</button></form>
        <h2>Invite friends</h2>
        <p>Your link: <a id="share-link" href="${user.shareUrl}">${user.shareUrl}</a></p>
        <iframe
          id="referral-card"
          src="${REFERRAL_URL}/widgets/v1/embed?token=${token}"
          title="Your referrals"
          width="100%"
          height="1500"
          style="border: 0"
        ></iframe>
        <script>
          // The card posts its height whenever it changes: fit the frame to it.
          addEventListener("message", (event) => {
            if (event.origin !== ${raw(JSON.stringify(new URL(REFERRAL_URL).origin))} || event.data?.type !== "referral-edge:height") return;
            document.getElementById("referral-card").style.height = event.data.height + "px";
          });
        </script>`,
    ),
  );
});

/** Signs a payload the way Stripe does: `Stripe-Signature: t=<seconds>,v1=<HMAC-SHA256 of "t.payload">`. */
function stripeSignature(payload, secret, seconds) {
  return `t=${seconds},v1=${createHmac("sha256", secret).update(`${seconds}.${payload}`).digest("hex")}`;
}

async function sendToWebhook(type, object, seconds) {
  const payload = JSON.stringify({
    id: `evt_${randomUUID().replaceAll("-", "")}`,
    object: "event",
    api_version: "2025-10-29.clover",
    created: seconds,
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  });
  const res = await fetch(`${REFERRAL_URL}/webhooks/stripe`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "stripe-signature": stripeSignature(payload, STRIPE_WEBHOOK_SECRET, seconds),
    },
    body: payload,
  });
  if (!res.ok) throw new Error(`webhook ${type}: ${res.status} ${await res.text()}`);
}

// What Stripe sends when a subscription checkout completes and its first invoice is paid.
app.post("/pay", async (c) => {
  const user = users.get(getCookie(c, "host_user") ?? "");
  if (!user) return c.redirect("/", 303);
  const seconds = Math.floor(Date.now() / 1000);
  const customer = `cus_${user.id}`;
  const invoice = `in_${randomUUID().slice(0, 12)}`;
  await sendToWebhook(
    "checkout.session.completed",
    {
      id: `cs_${randomUUID().slice(0, 12)}`,
      object: "checkout.session",
      mode: "subscription",
      payment_status: "paid",
      status: "complete",
      client_reference_id: user.id,
      customer,
      amount_total: 2900,
      currency: "usd",
      invoice,
      payment_intent: null,
      metadata: {},
    },
    seconds,
  );
  await sendToWebhook(
    "invoice.paid",
    {
      id: invoice,
      object: "invoice",
      customer,
      currency: "usd",
      amount_paid: 2900,
      status: "paid",
      status_transitions: { paid_at: seconds },
    },
    seconds,
  );
  return c.redirect("/dashboard", 303);
});

serve({ fetch: app.fetch, port: PORT, hostname: "127.0.0.1" }, (info) => {
  console.log(`Example host app: http://127.0.0.1:${info.port}/ (referral-edge at ${REFERRAL_URL})`);
});
