import type { FC } from "hono/jsx";
import { Layout, type PageContext } from "../layout";

export const LoginPage: FC<{ ctx: PageContext; error?: string }> = ({ ctx, error }) => (
  <Layout ctx={ctx} title="Sign in">
    <section class="login" aria-label="Sign in">
      <h1>Referral console</h1>
      <p class="muted">Sign in with an admin key (one of ADMIN_KEYS). The session lasts 12 hours.</p>
      <form method="post" action="/admin/login">
        <label>
          Admin key
          <input
            type="password"
            name="key"
            autocomplete="current-password"
            required
            minlength={16}
            aria-describedby={error ? "login-error" : undefined}
          />
        </label>
        {error ? (
          <p id="login-error" class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit">Sign in</button>
      </form>
    </section>
  </Layout>
);
