import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/config";
import { testBindings } from "./bindings";

describe("config", () => {
  it("parses the bindings with defaults", () => {
    const config = parseConfig({
      ...testBindings,
      CODE_PREFIX: "",
      COOKIE_NAME: undefined,
      ATTRIBUTION_WINDOW_DAYS: "",
    });
    expect(config.codePrefix).toBe("DEVO");
    expect(config.cookieName).toBe("ref_token");
    expect(config.attributionWindowMs).toBe(60 * 86_400_000);
    expect(config.signingKey.kid).toBe("k2");
    expect(config.attributionKeys.map((key) => key.kid)).toEqual(["k2", "k1"]);
    expect(config.apiKeys).toHaveLength(2);
    expect(config.cookieDomain).toBeUndefined();
    expect(config.maxRefereesPerClick).toBe(1);
    expect(parseConfig({ ...testBindings, MAX_REFEREES_PER_CLICK: "3" }).maxRefereesPerClick).toBe(3);
    expect(parseConfig({ ...testBindings, PUBLIC_URL: "https://refer.example.com/" }).publicUrl).toBe(
      "https://refer.example.com",
    );
  });

  it("puts the click in the URL as ref_click by default, under another name when set, and not at all when empty", () => {
    expect(parseConfig(testBindings).attributionUrlParam).toBe("ref_click");
    expect(parseConfig({ ...testBindings, ATTRIBUTION_URL_PARAM: " rc " }).attributionUrlParam).toBe("rc");
    expect(parseConfig({ ...testBindings, ATTRIBUTION_URL_PARAM: "" }).attributionUrlParam).toBeNull();
    for (const bad of ["ref", "promo", "a b", "x".repeat(65)]) {
      expect(() => parseConfig({ ...testBindings, ATTRIBUTION_URL_PARAM: bad })).toThrow(/ATTRIBUTION_URL_PARAM/);
    }
  });

  it.each([
    ["empty", ""],
    ["missing", undefined],
    ["not http(s)", "javascript:alert(1)"],
  ])("refuses a PUBLIC_URL that is %s: share links are built on it alone", (_name, value) => {
    const attempt = () => parseConfig({ ...testBindings, PUBLIC_URL: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/PUBLIC_URL is required/);
  });

  it.each([
    ["a path", "https://refer.example.com/app"],
    ["a query", "https://refer.example.com/?a=1"],
    ["a fragment", "https://refer.example.com/#x"],
  ])("refuses a PUBLIC_URL with %s: share links add /r/CODE to an origin", (_name, value) => {
    expect(() => parseConfig({ ...testBindings, PUBLIC_URL: value })).toThrow(/PUBLIC_URL must be an origin only/);
  });

  it.each([
    ["API_KEYS", { API_KEYS: undefined }],
    ["API_KEYS", { API_KEYS: "short" }],
    ["ATTRIBUTION_KEYS", { ATTRIBUTION_KEYS: "no-colon-here-at-all-0000" }],
    ["ATTRIBUTION_KEYS", { ATTRIBUTION_KEYS: "k1:secret-0000000000000,k1:secret-1111111111111" }],
    ["SIGNUP_URL", { SIGNUP_URL: "not a url" }],
    ["CLICK_SHARDS", { CLICK_SHARDS: "0" }],
    ["MAX_REFEREES_PER_CLICK", { MAX_REFEREES_PER_CLICK: "0" }],
    ["MAX_REFEREES_PER_CLICK", { MAX_REFEREES_PER_CLICK: "one" }],
    ["VISITOR_SALT", { VISITOR_SALT: undefined }],
  ])("fails loudly naming %s, without its value", (name, override) => {
    const attempt = () => parseConfig({ ...testBindings, ...override });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(name);
    try {
      attempt();
    } catch (error) {
      expect(String(error)).not.toContain("secret-0000000000000");
    }
  });

  it("keeps 2 days of click rows in D1 by default, allows 0, and refuses other CLICK_LOG_HOT_DAYS", () => {
    expect(parseConfig(testBindings).clickLogHotDays).toBe(2);
    expect(parseConfig({ ...testBindings, CLICK_LOG_HOT_DAYS: "0" }).clickLogHotDays).toBe(0);
    for (const value of ["-1", "1.5", "two"]) {
      expect(() => parseConfig({ ...testBindings, CLICK_LOG_HOT_DAYS: value })).toThrow(/CLICK_LOG_HOT_DAYS/);
    }
  });

  it("brands the widget with safe defaults, and with the host's settings", () => {
    expect(parseConfig(testBindings).widgetBrand).toEqual({
      productName: undefined,
      shareText: "Join me on {productName}: use my link to get a welcome bonus.",
      brandColor: "#3730a3",
    });
    const config = parseConfig({
      ...testBindings,
      WIDGET_PRODUCT_NAME: " Acme Notes ",
      WIDGET_SHARE_TEXT: "Try {productName}: {link}",
      WIDGET_BRAND_COLOR: "#0B6E4F",
    });
    expect(config.widgetBrand).toEqual({
      productName: "Acme Notes",
      shareText: "Try {productName}: {link}",
      brandColor: "#0b6e4f",
    });
  });

  it.each([
    ["a colour name", "WIDGET_BRAND_COLOR", "red", /WIDGET_BRAND_COLOR must be a #rrggbb hex colour/],
    ["a short hex", "WIDGET_BRAND_COLOR", "#fff", /WIDGET_BRAND_COLOR must be a #rrggbb hex colour/],
    ["CSS that closes the rule", "WIDGET_BRAND_COLOR", "#000000; } body { display: none", /WIDGET_BRAND_COLOR/],
    ["a control character", "WIDGET_PRODUCT_NAME", "Acme\u0007Notes", /WIDGET_PRODUCT_NAME must not contain control/],
    ["61 characters", "WIDGET_PRODUCT_NAME", "x".repeat(61), /WIDGET_PRODUCT_NAME must be at most 60/],
    ["281 characters", "WIDGET_SHARE_TEXT", "x".repeat(281), /WIDGET_SHARE_TEXT must be at most 280/],
    ["a line break inside", "WIDGET_SHARE_TEXT", "Join me\non it", /WIDGET_SHARE_TEXT must not contain control/],
    ["an unknown placeholder", "WIDGET_SHARE_TEXT", "Join {product} via {link}", /WIDGET_SHARE_TEXT may use only/],
  ])("refuses a widget setting with %s, naming it", (_name, setting, value, message) => {
    const attempt = () => parseConfig({ ...testBindings, [setting]: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });
});
