import { isbot } from "isbot";
import { sha256Hex } from "./crypto";

/**
 * Link-preview and prefetch agents that isbot does not flag: Outlook and Word
 * probe a link before opening the browser, Teams unfurls it.
 */
const PREVIEW_AGENTS = /Microsoft Office|ms-office|Teams\/|Existence Discovery|preview|unfurl/i;

/**
 * True for anything that is not a person's browser following the link. HEAD
 * requests are generally from bots and link checkers; real browsers always
 * send a user agent.
 */
export function isAutomated(method: string, userAgent: string): boolean {
  return method === "HEAD" || userAgent.trim() === "" || isbot(userAgent) || PREVIEW_AGENTS.test(userAgent);
}

export type AgentFamily = "bot" | "edge" | "opera" | "samsung" | "chrome" | "firefox" | "safari" | "other";

const FAMILIES: [AgentFamily, RegExp][] = [
  ["edge", /Edg(e|A|iOS)?\//],
  ["opera", /OPR\/|Opera/],
  ["samsung", /SamsungBrowser\//],
  ["chrome", /Chrome\/|CriOS\//],
  ["firefox", /Firefox\/|FxiOS\//],
  ["safari", /Safari\//],
];

/** A coarse browser family: enough for analytics, too coarse to fingerprint anyone. */
export function agentFamily(userAgent: string, automated: boolean): AgentFamily {
  if (automated) return "bot";
  for (const [family, pattern] of FAMILIES) if (pattern.test(userAgent)) return family;
  return "other";
}

/** The host of the Referer header, or null when absent or not a URL. */
export function referrerHost(referer: string | undefined): string | null {
  if (!referer) return null;
  try {
    return new URL(referer).hostname.slice(0, 253) || null;
  } catch {
    return null;
  }
}

export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/**
 * An opaque visitor id: SHA-256 over a secret, the UTC day, the IP and the user
 * agent. The day in the input rotates the salt daily, so hashes cannot be
 * joined across days, and without the secret they cannot be reversed to an IP.
 * 32 hex characters (128 bits) are plenty to tell visitors apart.
 */
export async function visitorHash(secret: string, at: number, ip: string, userAgent: string): Promise<string> {
  return (await sha256Hex(`${secret}\n${utcDay(at)}\n${ip}\n${userAgent}`)).slice(0, 32);
}

/**
 * The part of a client address one subscriber controls: an IPv4 address whole,
 * an IPv6 address by its /64 (one household or device is given a whole /64, so
 * rotating within it is free). Anything unparsable is taken as given.
 */
export function clientNetwork(ip: string): string {
  const address = ip.trim().toLowerCase();
  if (!address.includes(":")) return address;
  // An IPv4-mapped IPv6 address is the IPv4 client.
  const mapped = address.match(/^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/);
  if (mapped?.[1]) return mapped[1];
  const [head = "", tail] = address.split("::", 2);
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  if (groups.length !== 8 || !groups.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return address;
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(":")}::/64`;
}

/**
 * The click limiter's key for a client: a salted hash of its network (see
 * clientNetwork), not of the user agent, so that rotating the agent does not
 * buy a fresh budget. It has no day in it: the limiter forgets keys within a
 * minute, and a budget that renewed at midnight would be a gift.
 */
export async function clientKey(secret: string, ip: string): Promise<string> {
  return (await sha256Hex(`${secret}\nclient\n${clientNetwork(ip)}`)).slice(0, 32);
}

/** The counter shard a visitor's clicks go to: stable per visitor, so uniqueness stays exact. */
export function shardFor(visitor: string, shards: number): number {
  if (shards <= 1) return 0;
  return Number.parseInt(visitor.slice(0, 8), 16) % shards;
}
