import { describe, expect, it } from "vitest";
import { api, attribute, click, createCode, flush } from "../helpers";
import { login, page } from "./console";

describe("the console's referrers", () => {
  it("lists referrers, most signups first, and pages through them with a cursor", async () => {
    const session = await login();
    const empty = await (await page(session, "/admin/referrers?q=nobody-at-all")).text();
    expect(empty).toContain("No referrer matches");
    for (let i = 0; i < 27; i++) await createCode(`list-user-${String(i).padStart(2, "0")}`);
    const top = await createCode("list-top", "listtop");
    expect((await attribute({ refereeId: "list-friend", code: top })).status).toBe(201);

    const first = await page(session, "/admin/referrers");
    expect(first.status).toBe(200);
    const html = await first.text();
    const users = [...html.matchAll(/href="\/admin\/referrers\/([^"]+)">/g)].map((m) => decodeURIComponent(m[1] ?? ""));
    expect(users).toHaveLength(25);
    expect(users[0]).toBe("list-top");
    const next = html.match(/href="\/admin\/referrers\?cursor=([^"]+)" rel="next"/)?.[1];
    expect(next).toBeDefined();
    const second = await (await page(session, `/admin/referrers?cursor=${next}`)).text();
    const more = [...second.matchAll(/href="\/admin\/referrers\/([^"]+)">/g)].map((m) => m[1]);
    expect(more).toHaveLength(3);
    expect(new Set([...users, ...more]).size).toBe(28);
    expect(second).not.toContain('rel="next"');

    expect((await page(session, "/admin/referrers?cursor=not-a-cursor")).status).toBe(400);
  });

  it("finds a referrer by user id, by code, and by display name prefix", async () => {
    const session = await login();
    const code = await createCode("search-dana", "dana");
    await api(`/api/codes/${code}`, { method: "PATCH", body: { displayName: "Dana Search" } });
    for (const q of ["search-dana", code, code.toLowerCase(), "Dana S"]) {
      const html = await (await page(session, `/admin/referrers?q=${encodeURIComponent(q)}`)).text();
      expect(html, q).toContain('href="/admin/referrers/search-dana"');
    }
    // Only a prefix matches, and LIKE's wildcards in the search are plain characters.
    for (const q of ["ana", "Dana_", "%ana"]) {
      const html = await (await page(session, `/admin/referrers?q=${encodeURIComponent(q)}`)).text();
      expect(html, q).not.toContain('href="/admin/referrers/search-dana"');
    }
  });

  it("shows a referrer's code, live counters, referrals, ledger and entitlements", async () => {
    const session = await login();
    const code = await createCode("page-erin", "erin");
    await click(code, { ip: "198.18.5.1" });
    await click(code, { ip: "198.18.5.2" });
    await flush(code);
    await click(code, { ip: "198.18.5.3" });
    expect((await attribute({ refereeId: "page-frank", code })).status).toBe(201);

    const res = await page(session, "/admin/referrers/page-erin");
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`data-testid="code">${code}<`);
    // Live: the unflushed third click counts too, as in GET /api/codes/:code.
    const live = (await (await api(`/api/codes/${code}`)).json()) as { stats: { clicks: number } };
    expect(html).toContain(`data-stat="clicks">${live.stats.clicks}<`);
    expect(live.stats.clicks).toBe(3);
    expect(html).toContain('href="/admin/referrals/');
    expect(html).toContain("page-frank");
    expect(html).toMatch(/data-reward="[0-9a-f-]{36}"/);
    expect(html).toContain("Entitlements now");
  });

  it("says so when nothing is stored for a user", async () => {
    const res = await page(await login(), "/admin/referrers/never-seen");
    expect(res.status).toBe(404);
    expect(await res.text()).toContain("No such referrer");
  });
});
