/** What the Worker knows about one request to a share link: what a counter counts and the click log keeps. */
export interface ClickInput {
  code: string;
  shard: number;
  clickId: string;
  at: number;
  visitorHash: string;
  bot: boolean;
  country: string | null;
  referrerHost: string | null;
  agentFamily: string;
  /**
   * The click budget's key: a salted hash of the client's network (see
   * clientKey), whatever its user agent. Absent on clicks backlogged before
   * the budget moved into the counter: those are not limited.
   */
  client?: string;
}
