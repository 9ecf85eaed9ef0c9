/** Settings every test run uses (vitest.config.ts passes them as bindings); test-only secrets. */
export const testBindings = {
  SIGNUP_URL: "https://app.example.com/signup?plan=free",
  CODE_PREFIX: "DEVO",
  ATTRIBUTION_WINDOW_DAYS: "60",
  COOKIE_NAME: "ref_token",
  COOKIE_DOMAIN: "",
  PUBLIC_URL: "https://refer.example.com",
  CLICK_SHARDS: "1",
  API_KEYS: "test-api-key-0123456789,test-api-key-retired-0001",
  ATTRIBUTION_KEYS: "k2:test-attribution-secret-new-0000,k1:test-attribution-secret-old-0000",
  VISITOR_SALT: "test-visitor-salt-0123456789",
  STRIPE_WEBHOOK_SECRETS: "whsec_test_current_000000000000,whsec_test_previous_00000000000",
  CLAWBACK_DAYS: "30",
  WIDGET_KEYS: "w2:test-widget-secret-new-00000,w1:test-widget-secret-old-00000",
  WIDGET_TOKEN_TTL_S: "3600",
  WIDGET_ORIGINS: "https://dashboard.example.com,http://127.0.0.1:8788",
  ADMIN_KEYS: "test-admin-key-0123456789,test-admin-key-retired-0001",
};
