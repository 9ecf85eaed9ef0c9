declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    TIGHT_API_LIMITER: RateLimit;
    TIGHT_ATTRIBUTION_LIMITER: RateLimit;
    TIGHT_WIDGET_LIMITER: RateLimit;
    TIGHT_ADMIN_LOGIN_LIMITER: RateLimit;
  }
}

declare module "*?raw" {
  const text: string;
  export default text;
}
