import { z } from "zod";

/**
 * Reward rules as data: who gets what, when, for how long. The defaults are
 * the product spec's numbers; an operator overrides any top-level key with the
 * `REWARD_RULES` JSON variable. Nothing here does I/O.
 */

const Duration = z
  .object({
    days: z.number().int().min(0).max(3650).optional(),
    months: z.number().int().min(0).max(120).optional(),
  })
  .strict()
  .refine((d) => (d.days ?? 0) + (d.months ?? 0) > 0, "needs days or months");

const RewardKind = z.enum(["quantity", "credit", "feature"]);

const GrantRule = z
  .object({
    /** Stable id: stored on every ledger entry the rule creates. */
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, "lower-case letters, digits and dashes"),
    type: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/),
    amount: z.number().int().min(1).max(1_000_000_000),
    currency: z
      .string()
      .regex(/^[a-z]{3}$/)
      .optional(),
    feature: z.string().min(1).max(64).optional(),
    /** How long the reward stays in force; null never expires. */
    validFor: Duration.nullable(),
  })
  .strict();

const Milestone = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/),
    /** Granted once, when the referrer's signups reach this number. */
    signups: z.number().int().min(1),
    grants: z.array(GrantRule).min(1),
  })
  .strict();

const Multiplier = z
  .object({
    id: z.string().min(1).max(64),
    /** In force from `from` (inclusive) to `until` (exclusive), ISO 8601. */
    from: z.iso.datetime({ offset: true }),
    until: z.iso.datetime({ offset: true }),
    factor: z.number().min(1).max(100),
    triggers: z.array(z.enum(["signup", "conversion", "milestone"])).min(1),
  })
  .strict()
  .refine((m) => Date.parse(m.from) < Date.parse(m.until), "from must be before until");

export const RewardRulesSchema = z
  .object({
    /** Every reward type the ledger knows, and how entitlements add it up. */
    rewardTypes: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/), z.object({ kind: RewardKind }).strict()),
    signup: z.object({ referrer: z.array(GrantRule), referee: z.array(GrantRule) }).strict(),
    conversion: z.object({ referrer: z.array(GrantRule), referee: z.array(GrantRule) }).strict(),
    milestones: z.array(Milestone),
    multipliers: z.array(Multiplier),
    caps: z
      .object({
        /** Referrals per referrer and UTC calendar month whose referrer is rewarded. */
        rewardedReferralsPerMonth: z.number().int().min(0),
      })
      .strict(),
  })
  .strict()
  .superRefine((rules, ctx) => {
    const ids = new Set<string>();
    const grants = [
      ...rules.signup.referrer,
      ...rules.signup.referee,
      ...rules.conversion.referrer,
      ...rules.conversion.referee,
      ...rules.milestones.flatMap((m) => m.grants),
    ];
    for (const grant of grants) {
      if (ids.has(grant.id)) ctx.addIssue({ code: "custom", message: `rule id ${grant.id} is used twice` });
      ids.add(grant.id);
      const kind = rules.rewardTypes[grant.type]?.kind;
      if (!kind) ctx.addIssue({ code: "custom", message: `rule ${grant.id} uses unknown reward type ${grant.type}` });
      if (kind === "feature" && !grant.feature) {
        ctx.addIssue({ code: "custom", message: `rule ${grant.id} unlocks a feature but names none` });
      }
      if (kind === "credit" && !grant.currency) {
        ctx.addIssue({ code: "custom", message: `rule ${grant.id} grants credit but names no currency` });
      }
    }
  });

export type RewardRules = z.infer<typeof RewardRulesSchema>;
export type GrantRule = z.infer<typeof GrantRule>;
export type Trigger = "signup" | "conversion" | "milestone";

/** The product spec's "Reward Suggestions", tiers and caps. */
export const DEFAULT_RULES: RewardRules = {
  rewardTypes: {
    extra_messages: { kind: "quantity" },
    extra_requests: { kind: "quantity" },
    account_credit: { kind: "credit" },
    feature_unlock: { kind: "feature" },
  },
  signup: {
    referrer: [
      { id: "referrer-signup-messages", type: "extra_messages", amount: 10, validFor: { months: 1 } },
      { id: "referrer-signup-requests", type: "extra_requests", amount: 5, validFor: { months: 1 } },
    ],
    referee: [
      { id: "referee-welcome-messages", type: "extra_messages", amount: 5, validFor: { months: 1 } },
      { id: "referee-welcome-requests", type: "extra_requests", amount: 2, validFor: { months: 1 } },
      { id: "referee-pro-trial", type: "feature_unlock", amount: 1, feature: "pro", validFor: { days: 7 } },
    ],
  },
  conversion: {
    referrer: [
      { id: "referrer-conversion-credit", type: "account_credit", amount: 1000, currency: "usd", validFor: null },
    ],
    referee: [],
  },
  milestones: [
    {
      id: "five-signups",
      signups: 5,
      grants: [
        { id: "five-signups-messages", type: "extra_messages", amount: 50, validFor: { months: 3 } },
        { id: "five-signups-requests", type: "extra_requests", amount: 25, validFor: { months: 3 } },
      ],
    },
    {
      id: "ten-signups",
      signups: 10,
      grants: [{ id: "ten-signups-pro", type: "feature_unlock", amount: 1, feature: "pro", validFor: { months: 1 } }],
    },
  ],
  multipliers: [],
  caps: { rewardedReferralsPerMonth: 50 },
};

/** Default rules with the top-level keys of `override` replaced; throws on anything invalid. */
export function parseRules(override: unknown): RewardRules {
  const merged = override === undefined ? DEFAULT_RULES : { ...DEFAULT_RULES, ...(override as object) };
  return RewardRulesSchema.parse(merged);
}

/** `at` plus a duration; months are calendar months, clamped to the target month's last day. */
export function addDuration(at: number, duration: { days?: number; months?: number }): number {
  const date = new Date(at);
  if (duration.months) {
    const day = date.getUTCDate();
    date.setUTCDate(1);
    date.setUTCMonth(date.getUTCMonth() + duration.months);
    const lastDay = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
    date.setUTCDate(Math.min(day, lastDay));
  }
  return date.getTime() + (duration.days ?? 0) * 86_400_000;
}

/** The UTC calendar month containing `at`, as [start, end). */
export function monthWindow(at: number): { start: number; end: number } {
  const date = new Date(at);
  return {
    start: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1),
    end: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1),
  };
}

/** The factor in force at `at` for a trigger: the largest of the windows that contain it, else 1. */
export function multiplierAt(rules: RewardRules, trigger: Trigger, at: number): number {
  let factor = 1;
  for (const m of rules.multipliers) {
    if (m.triggers.includes(trigger) && Date.parse(m.from) <= at && at < Date.parse(m.until)) {
      factor = Math.max(factor, m.factor);
    }
  }
  return factor;
}

/**
 * When a grant applies: always; only if the referral's referrer was rewarded
 * (it was within the monthly cap); or once the referrer's signups reach a milestone.
 */
export type GrantCondition =
  | { kind: "always" }
  | { kind: "referrer_rewarded"; referralId: string }
  | { kind: "milestone"; referrerId: string; signups: number };

/** The monthly cap in force for a signup at `at`: how many rewarded referrals, in which month. */
export function capWindow(rules: RewardRules, at: number): { cap: number; monthStart: number; monthEnd: number } {
  const { start, end } = monthWindow(at);
  return { cap: rules.caps.rewardedReferralsPerMonth, monthStart: start, monthEnd: end };
}

/** One ledger entry to create, with the reason it exists. */
export interface PlannedGrant {
  userId: string;
  referralId: string;
  role: "referrer" | "referee";
  rule: string;
  type: string;
  amount: number;
  currency: string | null;
  feature: string | null;
  /** What caused the entry; `clawback` for the debt that takes back a spent reward. */
  trigger: Trigger | "clawback";
  triggerId: string;
  /** Unique per grant: replays and races cannot grant twice. */
  dedupeKey: string;
  validFrom: number;
  validUntil: number | null;
  condition: GrantCondition;
}

type GrantFields = Pick<PlannedGrant, "userId" | "referralId" | "role" | "triggerId" | "condition"> & {
  trigger: Trigger;
  /** Defaults to one grant per referral and rule. */
  dedupeKey?: string;
};

function plan(rules: RewardRules, grant: GrantRule, at: number, fields: GrantFields): PlannedGrant {
  const kind = rules.rewardTypes[grant.type]?.kind;
  // Multipliers scale amounts; a feature unlock is on or off, so it is not scaled.
  const factor = kind === "feature" ? 1 : multiplierAt(rules, fields.trigger, at);
  return {
    ...fields,
    dedupeKey: fields.dedupeKey ?? `${fields.referralId}:${grant.id}`,
    rule: grant.id,
    type: grant.type,
    amount: Math.round(grant.amount * factor),
    currency: grant.currency ?? null,
    feature: grant.feature ?? null,
    validFrom: at,
    validUntil: grant.validFor ? addDuration(at, grant.validFor) : null,
  };
}

export interface SignupContext {
  referralId: string;
  referrerId: string;
  refereeId: string;
  at: number;
}

/**
 * Everything a signup may grant: the referee's welcome rewards, the referrer's
 * rewards (within the monthly cap) and every milestone (granted when reached,
 * once). Conditions are checked where the grants are written, atomically.
 */
export function planSignupGrants(rules: RewardRules, s: SignupContext): PlannedGrant[] {
  const signup = { referralId: s.referralId, trigger: "signup", triggerId: s.referralId } as const;
  return [
    ...rules.signup.referee.map((grant) =>
      plan(rules, grant, s.at, { ...signup, userId: s.refereeId, role: "referee", condition: { kind: "always" } }),
    ),
    ...rules.signup.referrer.map((grant) =>
      plan(rules, grant, s.at, {
        ...signup,
        userId: s.referrerId,
        role: "referrer",
        condition: { kind: "referrer_rewarded", referralId: s.referralId },
      }),
    ),
    ...rules.milestones.flatMap((milestone) =>
      milestone.grants.map((grant) =>
        plan(rules, grant, s.at, {
          ...signup,
          trigger: "milestone",
          userId: s.referrerId,
          role: "referrer",
          dedupeKey: `milestone:${s.referrerId}:${grant.id}`,
          condition: { kind: "milestone", referrerId: s.referrerId, signups: milestone.signups },
        }),
      ),
    ),
  ];
}

export interface ConversionContext {
  referralId: string;
  referrerId: string;
  refereeId: string;
  /** The payment or event that converted: recorded as the trigger. */
  triggerId: string;
  at: number;
}

/** What a referral's first payment grants, to each side. */
export function planConversionGrants(rules: RewardRules, s: ConversionContext): PlannedGrant[] {
  const sides = [
    ["referrer", s.referrerId, rules.conversion.referrer],
    ["referee", s.refereeId, rules.conversion.referee],
  ] as const;
  return sides.flatMap(([role, userId, grants]) =>
    grants.map((grant) =>
      plan(rules, grant, s.at, {
        userId,
        role,
        referralId: s.referralId,
        trigger: "conversion",
        triggerId: s.triggerId,
        condition: { kind: "always" },
      }),
    ),
  );
}
