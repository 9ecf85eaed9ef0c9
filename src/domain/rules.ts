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

const RuleId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, "lower-case letters, digits and dashes");
const TypeName = z.string().regex(/^[a-z][a-z0-9_]{0,31}$/);
const Amount = z.number().int().min(1).max(1_000_000_000);
const Currency = z.string().regex(/^[a-z]{3}$/);
const Feature = z.string().min(1).max(64);

/** One reward of a bundled option: what it is and how long it lasts, as in a grant rule. */
const BundleGrant = z
  .object({
    type: TypeName,
    amount: Amount,
    currency: Currency.optional(),
    feature: Feature.optional(),
    validFor: Duration.nullable(),
  })
  .strict();

/**
 * One option a referrer may pick: a reward of its own (`type`, `amount`, …),
 * or a bundle of 2–5 rewards granted together (`grants`), such as
 * "50 messages + 25 requests". `label` is what the referrer sees.
 */
const ChoiceOption = z
  .object({
    id: RuleId,
    label: z.string().trim().min(1).max(80).optional(),
    type: TypeName.optional(),
    amount: Amount.optional(),
    currency: Currency.optional(),
    feature: Feature.optional(),
    validFor: Duration.nullable().optional(),
    grants: z.array(BundleGrant).min(2, "a bundle grants at least 2 rewards").max(5).optional(),
  })
  .strict()
  .superRefine((option, ctx) => {
    const own = (["type", "amount", "currency", "feature", "validFor"] as const).filter(
      (key) => option[key] !== undefined,
    );
    if (option.grants) {
      if (own.length > 0) {
        ctx.addIssue({
          code: "custom",
          message: `choice ${option.id} is a bundle: ${own.join(", ")} belong in each of its grants`,
        });
      }
      return;
    }
    const missing = [
      option.type === undefined && "type",
      option.amount === undefined && "amount",
      option.validFor === undefined && "validFor (null never ends)",
    ].filter((key): key is string => typeof key === "string");
    if (missing.length > 0) {
      ctx.addIssue({
        code: "custom",
        message: `choice ${option.id} needs ${missing.join(", ")}, or grants for a bundle`,
      });
    }
  });

type ChoiceOption = z.infer<typeof ChoiceOption>;
type BundleGrant = z.infer<typeof BundleGrant>;

/** The rewards an option grants: the bundle's grants, or the option itself. */
function optionGrants(option: ChoiceOption): BundleGrant[] {
  if (option.grants) return option.grants;
  return [
    {
      type: option.type ?? "",
      amount: option.amount ?? 0,
      currency: option.currency,
      feature: option.feature,
      validFor: option.validFor ?? null,
    },
  ];
}

/** A rule offering choices describes its entry, until one is taken, by its first option (a bundle: its first grant). */
const fromFirstChoice = (value: unknown) => {
  if (typeof value !== "object" || value === null || !("choices" in value) || "type" in value) return value;
  const [first] = Array.isArray(value.choices) ? value.choices : [];
  if (typeof first !== "object" || first === null) return value;
  const bundle = (first as Record<string, unknown>).grants;
  const described = Array.isArray(bundle) ? bundle[0] : first;
  if (typeof described !== "object" || described === null) return value;
  const { id: _id, label: _label, grants: _grants, ...reward } = described as Record<string, unknown>;
  return { ...reward, ...value };
};

const GrantRule = z.preprocess(
  fromFirstChoice,
  z
    .object({
      /** Stable id: stored on every ledger entry the rule creates. */
      id: RuleId,
      type: TypeName,
      /** Units granted; a conversion rule may give `percent` instead. */
      amount: z.number().int().min(1).max(1_000_000_000).optional(),
      currency: z
        .string()
        .regex(/^[a-z]{3}$/)
        .optional(),
      feature: z.string().min(1).max(64).optional(),
      /** How long the reward stays in force; null never expires. */
      validFor: Duration.nullable(),
      /** Days the entry waits `pending` before it can be used (a refund inside them revokes it outright). */
      holdDays: z.number().int().min(0).max(365).optional(),
      /** Conversion rules only: this percent of the invoice's amount, in its minor units, rounded down. */
      percent: z.number().gt(0).max(100).optional(),
      /** Conversion rules only: one entry for each of the referee's first N paid invoices, or those of the first N months. */
      recurring: z
        .object({
          invoices: z.number().int().min(1).max(1200).optional(),
          months: z.number().int().min(1).max(120).optional(),
        })
        .strict()
        .refine((r) => (r.invoices === undefined) !== (r.months === undefined), "needs invoices or months, not both")
        .optional(),
      /** Conversion rules only: the most this rule grants for one referral, in the type's units. */
      capPerReferral: z.number().int().min(1).max(1_000_000_000).optional(),
      /** The referrer picks one of these; the entry waits `pending` until then. */
      choices: z.array(ChoiceOption).min(2).max(5).optional(),
      /** Unchosen this many days after the grant, the first option is taken. */
      chooseWithinDays: z.number().int().min(1).max(365).optional(),
    })
    .strict(),
);

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
    /**
     * What counts towards milestones: every signup (the default), or only
     * conversions past their hold and not clawed back, so a milestone lost to
     * a clawback is taken back and fires again when reached again.
     */
    qualifiedBy: z.enum(["signup", "conversion"]).optional(),
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
    const conversionGrants = new Set([...rules.conversion.referrer, ...rules.conversion.referee]);
    for (const grant of grants) {
      const conversionOnly = [
        grant.percent !== undefined && "percent",
        grant.recurring && "recurring",
        grant.capPerReferral !== undefined && "capPerReferral",
      ].filter((key): key is string => typeof key === "string");
      if (!conversionGrants.has(grant) && conversionOnly.length > 0) {
        ctx.addIssue({
          code: "custom",
          message: `rule ${grant.id}: ${conversionOnly.join(", ")} only apply to conversion rules`,
        });
      }
      if (grant.choices) {
        const optionIds = new Set(grant.choices.map((option) => option.id));
        if (optionIds.size !== grant.choices.length) {
          ctx.addIssue({ code: "custom", message: `rule ${grant.id} offers the same choice twice` });
        }
        if (grant.recurring || grant.percent !== undefined) {
          ctx.addIssue({ code: "custom", message: `rule ${grant.id} offers choices: it cannot recur or be a percent` });
        }
        for (const option of grant.choices) {
          optionGrants(option).forEach((reward, i) => {
            const name = option.grants ? `choice ${option.id}, grant ${i + 1},` : `choice ${option.id}`;
            const optionKind = rules.rewardTypes[reward.type]?.kind;
            if (!optionKind)
              ctx.addIssue({ code: "custom", message: `${name} uses unknown reward type ${reward.type}` });
            if (optionKind === "feature" && !reward.feature) {
              ctx.addIssue({ code: "custom", message: `${name} unlocks a feature but names none` });
            }
            if (optionKind === "credit" && !reward.currency) {
              ctx.addIssue({ code: "custom", message: `${name} grants credit but names no currency` });
            }
          });
        }
      } else if (grant.chooseWithinDays !== undefined) {
        ctx.addIssue({ code: "custom", message: `rule ${grant.id}: chooseWithinDays needs choices` });
      }
      if ((grant.amount === undefined) === (grant.percent === undefined)) {
        ctx.addIssue({ code: "custom", message: `rule ${grant.id} needs either amount or percent` });
      }
      if (ids.has(grant.id)) ctx.addIssue({ code: "custom", message: `rule id ${grant.id} is used twice` });
      ids.add(grant.id);
      const kind = rules.rewardTypes[grant.type]?.kind;
      if (!kind) ctx.addIssue({ code: "custom", message: `rule ${grant.id} uses unknown reward type ${grant.type}` });
      if (kind === "feature" && !grant.feature) {
        ctx.addIssue({ code: "custom", message: `rule ${grant.id} unlocks a feature but names none` });
      }
      if (kind === "feature" && grant.percent !== undefined) {
        ctx.addIssue({ code: "custom", message: `rule ${grant.id} unlocks a feature: it has no percent` });
      }
      // A percent of an invoice is in the invoice's currency.
      if (kind === "credit" && !grant.currency && grant.percent === undefined) {
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
  /** The referrer has at least `count` converted referrals, converted by `convertedBy` and not clawed back. */
  | { kind: "qualified"; referrerId: string; count: number; convertedBy: number }
  | { kind: "referrer_rewarded"; referralId: string }
  /**
   * Fewer than `cap` of the referrer's other referrals converted in the month
   * (`monthStart`..`monthEnd`) got the referrer a conversion entry.
   */
  | {
      kind: "conversion_cap";
      referrerId: string;
      referralId: string;
      cap: number;
      monthStart: number;
      monthEnd: number;
    }
  | { kind: "milestone"; referrerId: string; signups: number };

/**
 * The monthly cap in force for a signup at `at`: how many rewarded referrals,
 * in which month. With `qualifiedBy: "conversion"` the cap counts conversions
 * instead (see planConversionGrants), so no signup is over it.
 */
export function capWindow(rules: RewardRules, at: number): { cap: number; monthStart: number; monthEnd: number } {
  const { start, end } = monthWindow(at);
  const cap = rules.qualifiedBy === "conversion" ? Number.MAX_SAFE_INTEGER : rules.caps.rewardedReferralsPerMonth;
  return { cap, monthStart: start, monthEnd: end };
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
  /** The end of the rule's holding period: granted `pending` until then. Null without a hold. */
  availableAt: number | null;
  /** The options the referrer picks from (JSON, see ChoiceOffer), and when the first is taken for them. */
  choices?: string | null;
  chooseBy?: number | null;
  /** A further reward of the bundle chosen on this entry (see domain/bundles.ts). */
  bundleOf?: string | null;
  condition: GrantCondition;
}

/** One reward an option grants, as the ledger entry stores it: amounts and dates worked out. */
export interface OfferedReward {
  type: string;
  amount: number;
  currency: string | null;
  feature: string | null;
  validUntil: number | null;
}

/**
 * An option as the ledger entry stores it: the reward the entry becomes (a
 * bundle's first grant), and for a bundle every grant in `grants`; the entry
 * becomes the first and each further one is an entry of its own.
 */
export interface ChoiceOffer extends OfferedReward {
  id: string;
  label?: string;
  grants?: OfferedReward[];
}

/** Days a referrer has to choose when the rule does not say. */
export const DEFAULT_CHOOSE_WITHIN_DAYS = 30;

const DAY_MS = 86_400_000;

/**
 * The amount a rule grants for a payment: a fixed amount, or a percent of the
 * payment times the multiplier `factor`, rounded down once at the end.
 */
export function grantAmount(grant: GrantRule, payment?: { amount: number }, factor = 1): number {
  if (grant.percent === undefined) return grant.amount ?? 0;
  // Integer arithmetic (percent in hundredths, factor in millionths), so 10% of 2900 is 290, not 289.99…,
  // and 10% of 2999 doubled is 599 (floor of 599.8), never 598 from rounding twice.
  const hundredths = BigInt(Math.round(grant.percent * 100));
  const millionths = BigInt(Math.round(factor * 1_000_000));
  const amount = BigInt(Math.max(0, Math.trunc(payment?.amount ?? 0)));
  return Number((amount * hundredths * millionths) / 10_000_000_000n);
}

type GrantFields = Pick<PlannedGrant, "userId" | "referralId" | "role" | "triggerId" | "condition"> & {
  trigger: Trigger;
  /** Defaults to one grant per referral and rule. */
  dedupeKey?: string;
};

function plan(
  rules: RewardRules,
  grant: GrantRule,
  at: number,
  fields: GrantFields,
  payment?: { amount: number; currency: string },
): PlannedGrant {
  const kind = rules.rewardTypes[grant.type]?.kind;
  // Multipliers scale amounts, a percent of an invoice too (rounded down); a feature unlock is on or off.
  const factor = kind === "feature" ? 1 : multiplierAt(rules, fields.trigger, at);
  const scaled =
    grant.percent === undefined ? Math.round(grantAmount(grant) * factor) : grantAmount(grant, payment, factor);
  // A held reward's validity starts when it becomes usable, so a hold never shortens it.
  // An entry offering a choice is usable from its grant (or its hold's end) once an option is taken.
  const availableAt = grant.holdDays ? at + grant.holdDays * DAY_MS : grant.choices ? at : null;
  const start = availableAt ?? at;
  const offers: ChoiceOffer[] | undefined = grant.choices?.map((option) => {
    const offered: OfferedReward[] = optionGrants(option).map((reward) => ({
      type: reward.type,
      amount: rules.rewardTypes[reward.type]?.kind === "feature" ? reward.amount : Math.round(reward.amount * factor),
      currency: reward.currency ?? null,
      feature: reward.feature ?? null,
      validUntil: reward.validFor ? addDuration(start, reward.validFor) : null,
    }));
    const [first] = offered as [OfferedReward, ...OfferedReward[]];
    return {
      id: option.id,
      ...(option.label ? { label: option.label } : {}),
      ...first,
      ...(option.grants ? { grants: offered } : {}),
    };
  });
  return {
    ...(offers
      ? {
          choices: JSON.stringify(offers),
          chooseBy: at + (grant.chooseWithinDays ?? DEFAULT_CHOOSE_WITHIN_DAYS) * DAY_MS,
        }
      : {}),
    ...fields,
    dedupeKey: fields.dedupeKey ?? `${fields.referralId}:${grant.id}`,
    rule: grant.id,
    type: grant.type,
    amount: grant.capPerReferral === undefined ? scaled : Math.min(scaled, grant.capPerReferral),
    currency: grant.percent === undefined ? (grant.currency ?? null) : (payment?.currency ?? grant.currency ?? null),
    feature: grant.feature ?? null,
    validFrom: start,
    // Until an option is taken the entry has no end of its own: the option brings it.
    validUntil: grant.validFor && !offers ? addDuration(start, grant.validFor) : null,
    availableAt,
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
    // Milestones on qualified conversions are decided by planQualifiedMilestones instead.
    ...(rules.qualifiedBy === "conversion" ? [] : rules.milestones).flatMap((milestone) =>
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
  /** The converting payment, for rules that grant a percent of it. */
  amount?: number;
  currency?: string;
}

function conversionSides(rules: RewardRules, s: { referrerId: string; refereeId: string }) {
  return [
    ["referrer", s.referrerId, rules.conversion.referrer],
    ["referee", s.refereeId, rules.conversion.referee],
  ] as const;
}

/**
 * What a referral's first payment grants, to each side (recurring rules: see
 * planRecurringGrants). With `qualifiedBy: "conversion"` the referrer's grants
 * are within the monthly cap, counted by the month the referral converted in.
 */
export function planConversionGrants(rules: RewardRules, s: ConversionContext): PlannedGrant[] {
  const payment = { amount: s.amount ?? 0, currency: s.currency ?? "" };
  const { start, end } = monthWindow(s.at);
  const referrerCondition: GrantCondition =
    rules.qualifiedBy === "conversion"
      ? {
          kind: "conversion_cap",
          referrerId: s.referrerId,
          referralId: s.referralId,
          cap: rules.caps.rewardedReferralsPerMonth,
          monthStart: start,
          monthEnd: end,
        }
      : { kind: "always" };
  return conversionSides(rules, s).flatMap(([role, userId, grants]) =>
    grants
      .filter((grant) => !grant.recurring)
      .map((grant) =>
        plan(
          rules,
          grant,
          s.at,
          {
            userId,
            role,
            referralId: s.referralId,
            trigger: "conversion",
            triggerId: s.triggerId,
            condition: role === "referrer" ? referrerCondition : { kind: "always" },
          },
          payment,
        ),
      )
      .filter((planned) => planned.amount > 0),
  );
}

/** A paid invoice as recurring rules see it. */
export interface RecurringPayment {
  id: string;
  amount: number;
  currency: string;
  paidAt: number;
}

/**
 * What recurring conversion rules grant: one entry per rule for each of the
 * referee's first N paid invoices (or each paid within N months of the first),
 * keyed by the invoice so a replay grants nothing twice. `spent` gives, per
 * dedupe key, the amount of an entry already used: it stays as it is, and the
 * per-referral cap shares out only what the spent entries left, in invoice
 * order. The result depends on the set of payments alone, never on the order
 * they arrived in.
 */
export function planRecurringGrants(
  rules: RewardRules,
  s: { referralId: string; referrerId: string; refereeId: string },
  payments: readonly RecurringPayment[],
  spent: ReadonlyMap<string, number> = new Map(),
): PlannedGrant[] {
  const paid = payments
    .filter((payment) => payment.amount > 0)
    .sort((a, b) => a.paidAt - b.paidAt || (a.id < b.id ? -1 : 1));
  const first = paid[0];
  if (!first) return [];
  const planned: PlannedGrant[] = [];
  for (const [role, userId, grants] of conversionSides(rules, s)) {
    for (const grant of grants) {
      const recurring = grant.recurring;
      if (!recurring) continue;
      const end = recurring.months !== undefined ? addDuration(first.paidAt, { months: recurring.months }) : null;
      const eligible = end === null ? paid.slice(0, recurring.invoices) : paid.filter((p) => p.paidAt < end);
      const key = (payment: RecurringPayment) => `${s.referralId}:${grant.id}:${payment.id}`;
      let room = grant.capPerReferral ?? Number.POSITIVE_INFINITY;
      for (const payment of eligible) room -= spent.get(key(payment)) ?? 0;
      for (const payment of eligible) {
        const entry = plan(
          rules,
          { ...grant, capPerReferral: undefined },
          payment.paidAt,
          {
            userId,
            role,
            referralId: s.referralId,
            trigger: "conversion",
            triggerId: payment.id,
            dedupeKey: key(payment),
            condition: { kind: "always" },
          },
          payment,
        );
        const used = spent.get(entry.dedupeKey);
        const amount = used ?? Math.max(0, Math.min(entry.amount, room));
        if (used === undefined) room -= amount;
        if (amount > 0) planned.push({ ...entry, amount });
      }
    }
  }
  return planned;
}

/** How long a conversion waits before it qualifies: the longest hold of the referrer's conversion rules. */
export function qualifyingHoldMs(rules: RewardRules): number {
  return Math.max(0, ...rules.conversion.referrer.map((grant) => (grant.holdDays ?? 0) * DAY_MS));
}

/** A milestone entry (or its debt) already in the ledger. */
export interface MilestoneEntry {
  id: string;
  dedupeKey: string;
  status: "pending" | "active" | "redeemed" | "expired" | "revoked";
  amount: number;
  fulfilledAt: number | null;
  /** Set on a further reward of a chosen bundle: it follows its entry, it is not a crossing of its own. */
  bundleOf?: string | null;
}

export type MilestoneAction =
  | { kind: "grant"; grant: PlannedGrant }
  | { kind: "revoke"; id: string; from: MilestoneEntry["status"] }
  | { kind: "debt"; entry: MilestoneEntry };

/** The crossing an entry was granted for: its dedupe key ends in `:<n>`. */
const crossingOf = (key: string) => Number(key.slice(key.lastIndexOf(":") + 1));

/**
 * Milestones on qualified referrals: each time the referrer's count of
 * qualified referrals reaches a milestone, its grants are made once for that
 * crossing (keyed `milestone:<referrer>:<grant>:<crossing>`); when the count
 * drops below it again, the live entry is revoked (an expired one too, which
 * records the loss), or taken back by a debt if spent. The next crossing is a
 * new entry. No I/O.
 */
export function planQualifiedMilestones(
  rules: RewardRules,
  s: { referrerId: string; referralId: string; qualified: number; now: number },
  entries: readonly MilestoneEntry[],
): MilestoneAction[] {
  if (rules.qualifiedBy !== "conversion") return [];
  const actions: MilestoneAction[] = [];
  for (const milestone of rules.milestones) {
    for (const grant of milestone.grants) {
      const prefix = `milestone:${s.referrerId}:${grant.id}:`;
      const own = entries
        .filter(
          (entry) => entry.dedupeKey.startsWith(prefix) && !entry.dedupeKey.endsWith(":clawback") && !entry.bundleOf,
        )
        .sort((a, b) => crossingOf(a.dedupeKey) - crossingOf(b.dedupeKey));
      const last = own.at(-1);
      const debt = last && entries.find((entry) => entry.dedupeKey === `${last.dedupeKey}:clawback`);
      // The crossing still stands while its entry does: an entry that expired was granted for it too,
      // so the count staying at N never grants it again; losing the count revokes it, marking the loss.
      const live = last !== undefined && !debt && last.status !== "revoked";
      if (s.qualified >= milestone.signups && !live) {
        const crossing = (last ? crossingOf(last.dedupeKey) : 0) + 1;
        actions.push({
          kind: "grant",
          grant: plan(rules, grant, s.now, {
            userId: s.referrerId,
            referralId: s.referralId,
            role: "referrer",
            trigger: "milestone",
            triggerId: s.referralId,
            dedupeKey: `${prefix}${crossing}`,
            condition: {
              kind: "qualified",
              referrerId: s.referrerId,
              count: milestone.signups,
              convertedBy: s.now - qualifyingHoldMs(rules),
            },
          }),
        });
      } else if (s.qualified < milestone.signups && live && last) {
        const spent = last.status === "redeemed" || last.fulfilledAt !== null;
        actions.push(spent ? { kind: "debt", entry: last } : { kind: "revoke", id: last.id, from: last.status });
      }
    }
  }
  return actions;
}
