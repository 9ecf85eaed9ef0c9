import { env } from "cloudflare:workers";
import { sha256Hex } from "../../src/domain/crypto";

/** Tables whose content a rejected request must leave as it was. */
async function tables(): Promise<string[]> {
  const rows = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations' ORDER BY name",
  ).all<{ name: string }>();
  return rows.results.map((row) => row.name);
}

/** A fingerprint of everything in D1: equal fingerprints mean nothing was added, changed or lost. */
export async function d1Snapshot(): Promise<Record<string, string>> {
  const snapshot: Record<string, string> = {};
  for (const table of await tables()) {
    const rows = await env.DB.prepare(`SELECT * FROM "${table}" ORDER BY rowid`).all();
    snapshot[table] = `${rows.results.length}:${await sha256Hex(JSON.stringify(rows.results))}`;
  }
  return snapshot;
}
