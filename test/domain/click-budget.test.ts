import { describe, expect, it } from "vitest";
import { ClickBudget } from "../../src/domain/click-budget";

const MINUTE = 60_000;
const at = (minute: number, second = 0) => minute * MINUTE + second * 1000;

describe("ClickBudget", () => {
  it("takes the budget's clicks per client and minute, then refuses", () => {
    const budget = new ClickBudget(3);
    const taken = Array.from({ length: 5 }, (_, i) => budget.take("client-a", at(100, i)));
    expect(taken).toEqual([true, true, true, false, false]);
    // Another client has a budget of its own.
    expect(budget.take("client-b", at(100, 10))).toBe(true);
  });

  it("starts afresh in the next clock minute", () => {
    const budget = new ClickBudget(2);
    expect([budget.take("c", at(7, 58)), budget.take("c", at(7, 59)), budget.take("c", at(7, 59))]).toEqual([
      true,
      true,
      false,
    ]);
    expect(budget.take("c", at(8, 0))).toBe(true);
  });

  it("judges a late click by its own minute, not by the newest one seen", () => {
    const budget = new ClickBudget(1);
    expect(budget.take("c", at(10))).toBe(true);
    expect(budget.take("c", at(11))).toBe(true);
    // A click of minute 10 that arrives late still finds minute 10's budget spent.
    expect(budget.take("c", at(10, 30))).toBe(false);
  });

  it("gives back a click that was a repeated delivery", () => {
    const budget = new ClickBudget(1);
    expect(budget.take("c", at(3))).toBe(true);
    budget.giveBack("c", at(3));
    expect(budget.take("c", at(3, 1))).toBe(true);
    expect(budget.take("c", at(3, 2))).toBe(false);
  });

  it("limits nothing when the budget is 0 or the click has no client key", () => {
    const off = new ClickBudget(0);
    expect(Array.from({ length: 1000 }, (_, i) => off.take("c", at(1, i % 60))).every(Boolean)).toBe(true);
    const on = new ClickBudget(1);
    expect([on.take(undefined, at(1)), on.take(undefined, at(1))]).toEqual([true, true]);
  });
});
