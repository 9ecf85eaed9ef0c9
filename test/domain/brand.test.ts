import { describe, expect, it } from "vitest";
import { accentPalette, contrastRatio, relativeLuminance, shareMessage } from "../../src/domain/brand";

const INK = "#1b1b2f";
const brand = { productName: "Acme", shareText: "Join me on {productName}", brandColor: "#3730a3" };

describe("the widget's brand", () => {
  it("measures luminance and contrast as WCAG does", () => {
    expect(relativeLuminance("#000000")).toBe(0);
    expect(relativeLuminance("#ffffff")).toBeCloseTo(1);
    expect(contrastRatio("#ffffff", "#000000")).toBeCloseTo(21);
    expect(contrastRatio("#000000", "#ffffff")).toBeCloseTo(21);
    expect(contrastRatio("#777777", "#ffffff")).toBeCloseTo(4.48, 2);
  });

  it.each(["#3730a3", "#ffd400", "#0b6e4f", "#ff0000", "#777777", "#767676", "#00ffff", "#000000", "#ffffff"])(
    "keeps AA contrast on %s: button text on the colour, and the colour's links on white",
    (color) => {
      const palette = accentPalette(color, INK);
      expect(palette.accent).toBe(color);
      expect(contrastRatio(palette.onAccent, color)).toBeGreaterThanOrEqual(4.5);
      expect(contrastRatio(palette.accentText, "#ffffff")).toBeGreaterThanOrEqual(4.5);
    },
  );

  it("keeps a dark brand colour for links and falls back to the ink for a light one", () => {
    expect(accentPalette("#3730a3", INK)).toEqual({ accent: "#3730a3", onAccent: "#ffffff", accentText: "#3730a3" });
    expect(accentPalette("#ffd400", INK)).toEqual({ accent: "#ffd400", onAccent: "#000000", accentText: INK });
  });

  it("fills the placeholders, and appends the link when the text does not place it", () => {
    expect(shareMessage(brand, "https://r.example/r/A")).toBe("Join me on Acme https://r.example/r/A");
    expect(shareMessage({ ...brand, shareText: "{link} is my {productName} link" }, "https://r.example/r/A")).toBe(
      "https://r.example/r/A is my Acme link",
    );
    expect(shareMessage({ ...brand, productName: undefined }, "L")).toBe("Join me on this product L");
  });

  it("leaves a product name that contains a placeholder as written", () => {
    expect(shareMessage({ ...brand, productName: "{link}", shareText: "{productName}: {link}" }, "L")).toBe(
      "{link}: L",
    );
  });
});
