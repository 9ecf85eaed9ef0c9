// Copies the API reference's browser bundle (Scalar's standalone build, from the
// @scalar/api-reference package) into dist/assets/, the Workers static assets
// directory wrangler.toml names, so /docs loads nothing from another origin, and
// writes the headers the platform serves it with (dist/assets/_headers).
// Run by wrangler before every `wrangler dev` and `wrangler deploy` (its
// [build] command) and by vitest.config.ts before the tests; nothing to run by hand.
// The file is named after the package's version, which src/docs/reference.ts
// must name too: a version bump without it fails here, not in a browser.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const root = path.resolve(import.meta.dirname, "..");
const PACKAGE = path.join(root, "node_modules/@scalar/api-reference");
const ASSETS = path.join(root, "dist/assets");
/** dist/assets/docs/assets/x.js is served at /docs/assets/x.js. */
const OUT = path.join(ASSETS, "docs/assets");
/** Its name carries its version, so browsers may keep it for a year; nosniff as on every other answer. */
const HEADERS = `/docs/assets/*
  Cache-Control: public, max-age=31536000, immutable
  X-Content-Type-Options: nosniff
`;

/** @returns {{ file: string, bytes: number }} the bundle's path in dist/assets/ and its size */
export function copyDocsAssets() {
  if (!existsSync(PACKAGE)) throw new Error("@scalar/api-reference is not installed: run `npm ci` first");
  const installed = JSON.parse(readFileSync(path.join(PACKAGE, "package.json"), "utf8")).version;
  const named = /SCALAR_VERSION = "([^"]+)"/.exec(readFileSync(path.join(root, "src/docs/reference.ts"), "utf8"))?.[1];
  if (named !== installed) {
    throw new Error(
      `src/docs/reference.ts names Scalar ${named} but @scalar/api-reference ${installed} is installed: make them agree`,
    );
  }
  const source = path.join(PACKAGE, "dist/browser/standalone.js");
  const name = `scalar-${installed}.js`;
  const target = path.join(OUT, name);
  mkdirSync(OUT, { recursive: true });
  // Only the current bundle: an older one left behind would be uploaded with the next deploy.
  for (const entry of readdirSync(OUT)) if (entry !== name) rmSync(path.join(OUT, entry), { recursive: true });
  const bytes = statSync(source).size;
  // Rewritten only when it changed: `wrangler dev` reloads on every write here.
  if (!existsSync(target) || statSync(target).size !== bytes) copyFileSync(source, target);
  const headers = path.join(ASSETS, "_headers");
  if (!existsSync(headers) || readFileSync(headers, "utf8") !== HEADERS) writeFileSync(headers, HEADERS);
  return { file: path.relative(root, target), bytes };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { file, bytes } = copyDocsAssets();
  console.log(`docs assets: ${file} (${(bytes / 1e6).toFixed(1)} MB)`);
}
