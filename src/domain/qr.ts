import { renderSVG } from "uqr";

/**
 * A share link as a QR code, in SVG: for people who share in person (a phone
 * held up to another). Made locally by `uqr`, no network; a quiet zone of two
 * modules keeps it scannable on any background.
 */
export function qrSvg(url: string): string {
  return renderSVG(url, { border: 2, ecc: "M", whiteColor: "#ffffff", blackColor: "#111827" });
}

/** The same, as a `data:` URL for an `<img>` (the card's CSP allows `img-src data:`). */
export function qrDataUrl(url: string): string {
  return `data:image/svg+xml;base64,${btoa(qrSvg(url))}`;
}
