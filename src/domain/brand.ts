/**
 * The widget's brand: the host's product name, share text and colour, and the
 * colours derived from it so the card keeps WCAG AA contrast whatever the
 * host picks. Pure: no I/O.
 */

/** The host's branding of the card, as the settings give it. */
export interface WidgetBrand {
  /** Shown in the card's title and heading; undefined keeps the generic wording. */
  productName: string | undefined;
  /** The message the share and copy buttons send; `{link}` and `{productName}` are filled in. */
  shareText: string;
  /** `#rrggbb`, lower case. */
  brandColor: string;
}

export const DEFAULT_SHARE_TEXT = "Join me on {productName}: use my link to get a welcome bonus.";
export const DEFAULT_BRAND_COLOR = "#3730a3";
export const SHARE_TEXT_PLACEHOLDERS = ["{link}", "{productName}"] as const;

const WHITE = "#ffffff";
const BLACK = "#000000";
/** WCAG 2.x AA for normal text. */
const AA = 4.5;

/** WCAG relative luminance of a `#rrggbb` colour, 0 (black) to 1 (white). */
export function relativeLuminance(hex: string): number {
  const channels = [1, 3, 5].map((at) => Number.parseInt(hex.slice(at, at + 2), 16) / 255);
  const [r = 0, g = 0, b = 0] = channels.map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two `#rrggbb` colours, 1 to 21. */
export function contrastRatio(a: string, b: string): number {
  const [light, dark] = [relativeLuminance(a), relativeLuminance(b)].sort((x, y) => y - x);
  return ((light ?? 0) + 0.05) / ((dark ?? 0) + 0.05);
}

/**
 * The card's accent colours: the brand colour as the buttons' background with
 * white or black text, whichever reads better (one of them always reaches
 * 4.58:1), and the brand colour as text on the white card only when it reaches
 * AA there; otherwise links fall back to the card's ink.
 */
export function accentPalette(brandColor: string, ink: string) {
  return {
    accent: brandColor,
    onAccent: contrastRatio(brandColor, WHITE) >= contrastRatio(brandColor, BLACK) ? WHITE : BLACK,
    accentText: contrastRatio(brandColor, WHITE) >= AA ? brandColor : ink,
  };
}

/** The share message: placeholders filled in, and the link appended when the text does not place it. */
export function shareMessage(brand: WidgetBrand, link: string): string {
  // One pass, so a product name that contains "{link}" stays as written.
  const filled = brand.shareText.replace(/\{(link|productName)\}/g, (_, name: string) =>
    name === "link" ? link : (brand.productName ?? "this product"),
  );
  return brand.shareText.includes("{link}") ? filled : `${filled} ${link}`;
}
