// Checks the README and docs/: every relative link and image resolves to a file
// in the repository (and its #anchor to a heading there), every path quoted in
// backticks exists, every block marked as a quote of a file matches it, nothing cites a document outside the repository, and the
// README stays a front page. Exits non-zero, listing each problem.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const README_LIMIT = 10_240;
/** Written by a script or a test run, never committed: quoting them is fine. */
const GENERATED = ["bench/out/", "dist/", "test-artifacts/"];
const pages = [
  "README.md",
  ...readdirSync(path.join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
  ...readdirSync(path.join(root, "examples"))
    .map((name) => `examples/${name}/README.md`)
    .filter((page) => existsSync(path.join(root, page))),
];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown) {
  const anchors = new Set();
  const counts = new Map();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const base = heading[1]
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const seen = counts.get(base) ?? 0;
    counts.set(base, seen + 1);
    anchors.add(seen === 0 ? base : `${base}-${seen}`);
  }
  return anchors;
}

/** The page's text outside fenced code blocks, where links are links. */
function prose(markdown) {
  let fenced = false;
  return markdown
    .split("\n")
    .filter((line) => {
      if (line.startsWith("```")) {
        fenced = !fenced;
        return false;
      }
      return !fenced;
    })
    .join("\n");
}

const problems = [];
for (const page of pages) {
  const text = readFileSync(path.join(root, page), "utf8");
  const body = prose(text);
  for (const [, target] of body.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: outside the repository
    const [file, anchor] = target.split("#", 2);
    const resolved = file === "" ? path.join(root, page) : path.resolve(path.dirname(path.join(root, page)), file);
    if (!resolved.startsWith(root) || !existsSync(resolved)) {
      problems.push(`${page}: link to ${target}: no such file`);
      continue;
    }
    if (anchor !== undefined) {
      if (!resolved.endsWith(".md") || statSync(resolved).isDirectory()) continue;
      if (!anchorsOf(readFileSync(resolved, "utf8")).has(anchor))
        problems.push(`${page}: link to ${target}: no heading with that anchor`);
    }
  }
  for (const [, quoted] of body.matchAll(/`((?:src|test|docs|scripts|bench|migrations|examples)\/[\w./-]*\.[a-z]+)`/g))
    if (!GENERATED.some((prefix) => quoted.startsWith(prefix)) && !existsSync(path.join(root, quoted)))
      problems.push(`${page}: \`${quoted}\` does not exist`);
  // A block marked `<!-- quote: path -->` must be that file's code, word for word.
  for (const [, file, block] of text.matchAll(/<!-- quote: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)) {
    const quoted = path.join(root, file);
    if (!existsSync(quoted)) problems.push(`${page}: quotes ${file}, which does not exist`);
    else if (!readFileSync(quoted, "utf8").includes(block))
      problems.push(`${page}: a quote of ${file} no longer matches it`);
  }
  for (const [cited] of text.matchAll(/\b(?:DESIGN|STYLE)\.md\b/g))
    problems.push(`${page}: cites ${cited}, which is not in the repository`);
}

const readmeBytes = statSync(path.join(root, "README.md")).size;
if (readmeBytes > README_LIMIT) problems.push(`README.md: ${readmeBytes} bytes, over the front page's ${README_LIMIT}`);

if (problems.length > 0) {
  console.error(`docs: ${problems.length} problem(s)\n${problems.map((problem) => `  ${problem}`).join("\n")}`);
  process.exit(1);
}
console.log(`docs: ${pages.length} pages, every link and quoted path resolves; README ${readmeBytes} bytes`);
