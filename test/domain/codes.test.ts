import { describe, expect, it } from "vitest";
import { codeName, generateCode, parseCode } from "../../src/domain/codes";

describe("codes", () => {
  it.each([
    ["Alex", "ALEX"],
    ["al", "AL"],
    ["a.l-e_x!", "ALEX"],
    ["Ünïcödé", "NCD"],
    ["", ""],
    [undefined, ""],
    ["12345", "1234"],
  ])("takes the name part of %j as %j", (name, expected) => {
    expect(codeName(name)).toBe(expected);
  });

  it("generates PREFIX-NAME plus 4 digits", () => {
    for (let i = 0; i < 200; i++) expect(generateCode("DEVO", "alex")).toMatch(/^DEVO-ALEX\d{4}$/);
    expect(generateCode("X1", undefined)).toMatch(/^X1-[A-Z]{4}\d{4}$/);
  });

  it("spreads the digits", () => {
    const seen = new Set(Array.from({ length: 500 }, () => generateCode("DEVO", "a")));
    expect(seen.size).toBeGreaterThan(450);
  });

  it.each([
    ["DEVO-ALEX1234", "DEVO-ALEX1234"],
    ["devo-alex1234", "DEVO-ALEX1234"],
    ["DEVO-1234", "DEVO-1234"],
    ["DEVO-AB1234", "DEVO-AB1234"],
    ["DEVO-ALEX12345", null],
    ["DEVO_ALEX1234", null],
    ["DEVO-AL X1234", null],
    ["DEVO-ALEX1234/../", null],
    ["-ALEX1234", null],
    ["DEVO-123", null],
    ["", null],
    [`DEVO-${"9".repeat(30)}`, null],
    ["DEVO-ÄLEX1234", null],
  ])("parses %j as %j", (raw, expected) => {
    expect(parseCode(raw)).toBe(expected);
  });

  it("parses every generated code", () => {
    for (let i = 0; i < 100; i++) {
      const code = generateCode("DEVO", `n${i}`);
      expect(parseCode(code)).toBe(code);
    }
  });
});
