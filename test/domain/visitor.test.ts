import { describe, expect, it } from "vitest";
import {
  agentFamily,
  clientKey,
  clientNetwork,
  isAutomated,
  referrerHost,
  shardFor,
  visitorHash,
} from "../../src/domain/visitor";
import { BROWSER_UA } from "../helpers";

describe("visitors", () => {
  it("treats HEAD, empty agents, bots and link previews as automated", () => {
    expect(isAutomated("HEAD", BROWSER_UA)).toBe(true);
    expect(isAutomated("GET", "")).toBe(true);
    expect(isAutomated("GET", "Googlebot/2.1 (+http://www.google.com/bot.html)")).toBe(true);
    expect(isAutomated("GET", "WhatsApp/2.23.20.0")).toBe(true);
    expect(
      isAutomated("GET", "Mozilla/5.0 Chrome/64.0 Microsoft Office/16.0 (Microsoft Outlook Mail 16.0.6416; Pro)"),
    ).toBe(true);
    expect(isAutomated("GET", BROWSER_UA)).toBe(false);
    expect(
      isAutomated(
        "GET",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1",
      ),
    ).toBe(false);
  });

  it.each([
    [BROWSER_UA, "chrome"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0", "edge"],
    ["Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "firefox"],
    [
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1",
      "safari",
    ],
    ["something else", "other"],
  ])("files %s under %s", (ua, family) => {
    expect(agentFamily(ua, false)).toBe(family);
  });

  it("keeps only the referrer's host", () => {
    expect(referrerHost("https://news.example.org/a/b?c=d")).toBe("news.example.org");
    expect(referrerHost("not a url")).toBeNull();
    expect(referrerHost(undefined)).toBeNull();
  });

  it("hashes visitors per day, without the IP in the output", async () => {
    const day = Date.UTC(2026, 10, 24, 9);
    const a = await visitorHash("salt-0000000000000000", day, "203.0.113.9", BROWSER_UA);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(a).toBe(await visitorHash("salt-0000000000000000", day + 3_600_000, "203.0.113.9", BROWSER_UA));
    expect(a).not.toBe(await visitorHash("salt-0000000000000000", day + 86_400_000, "203.0.113.9", BROWSER_UA));
    expect(a).not.toBe(await visitorHash("salt-0000000000000000", day, "203.0.113.10", BROWSER_UA));
    expect(a).not.toBe(await visitorHash("other-salt-00000000000", day, "203.0.113.9", BROWSER_UA));
  });

  it.each([
    ["203.0.113.9", "203.0.113.9"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002::abcd", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::ffff:198.51.100.4", "198.51.100.4"],
    ["", ""],
  ])("takes %j as the client network %j", (ip, network) => {
    expect(clientNetwork(ip)).toBe(network);
  });

  it("keys the click limit on the client network alone: salted, and the same every day", async () => {
    const key = await clientKey("salt-0000000000000000", "2001:db8:1:2::a");
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(key).toBe(await clientKey("salt-0000000000000000", "2001:db8:1:2:ffff::b"));
    expect(key).not.toBe(await clientKey("salt-0000000000000000", "2001:db8:1:3::a"));
    expect(key).not.toBe(await clientKey("other-salt-00000000000", "2001:db8:1:2::a"));
  });

  it("keeps a visitor on one shard", () => {
    expect(shardFor("ffffffff00", 1)).toBe(0);
    expect(shardFor("0000000a00", 4)).toBe(2);
    expect(shardFor("0000000a00", 4)).toBe(shardFor("0000000a99", 4));
  });
});
