/**
 * `pnpm docs:coverage`: rewrites the scenario coverage table of docs/protocol.md (between
 * `<!-- coverage:start -->` and `<!-- coverage:end -->`) from the scenario ids that test names cite.
 * The scenario list itself is the `**W-XX-NN**` entries of docs/protocol.md; an id with no test is
 * listed as "not covered", so a gap is visible instead of silently missing.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
export const PROTOCOL_DOC = join(REPO_ROOT, "docs", "protocol.md");
export const COVERAGE_START = "<!-- coverage:start -->";
export const COVERAGE_END = "<!-- coverage:end -->";
/** Where tests live; `node_modules` and hidden directories are skipped. */
const TEST_ROOTS = ["packages", "services", "charts", "bench"];

// `W-BAD-02`, and the shorthand `W-BAD-02/03` for two neighbours of one group.
const ID = /\bW-([A-Z0-9]+)-(\d{2})((?:\/\d{2})*)\b/g;
// A test or suite title: `it("…"`, `describe.each(rows)("…"`, `it.each([1, 2])("…"`, or `])("…"` / `] as const)("…"` closing a multi-line each table.
const TITLE = /(?:\b(?:it|test|describe)(?:\.\w+(?:\([^()]*\))?)*|^\s*\](?: as const)?\))\(\s*(["'`])((?:\\.|(?!\1).)*)\1/;
const EACH_TITLE = /(?:\.each\([^()]*\)|^\s*\](?: as const)?\))\(\s*["'`]/;
// The start of a test or suite call, titled on this line or not.
const TEST_START = /\b(?:it|test|describe)(?:\.\w+)*\(/;
// A call opened at the end of its line, its title on the next (how the formatter wraps a long title).
const OPENED_CALL = /(?:\b(?:it|test|describe)(?:\.\w+(?:\([^()]*\))?)*|^\s*\](?: as const)?\))\($/;

/** Puts each wrapped title back on its call's line (leaving the title's own line empty, so line numbers stay). */
function unwrapTitles(lines: string[]): string[] {
  const out = [...lines];
  for (let i = 0; i + 1 < out.length; i++) {
    if (OPENED_CALL.test(out[i]!.trimEnd()) && /^\s*["'`]/.test(out[i + 1]!)) {
      out[i] = out[i]!.trimEnd() + out[i + 1]!.trimStart();
      out[i + 1] = "";
    }
  }
  return out;
}

export interface Citation {
  /** Path relative to the repository root, with `/` separators. */
  file: string;
  /** The title of the test or suite that cites the id. */
  test: string;
}

/** Every scenario id in `text`, with `W-X-01/02` expanded to `W-X-01` and `W-X-02`. */
export function idsIn(text: string): string[] {
  const ids: string[] = [];
  for (const m of text.matchAll(ID)) {
    const [, group, first, more] = m;
    ids.push(`W-${group}-${first}`);
    for (const n of (more ?? "").split("/").filter(Boolean)) ids.push(`W-${group}-${n}`);
  }
  return ids;
}

function indent(line: string): number {
  return line.length - line.trimStart().length;
}

/** The title as the test runner shows it: escaped quotes and backslashes unescaped. */
function titleOf(line: string): string | undefined {
  return TITLE.exec(line)?.[2]?.replace(/\\(["'`\\])/g, "$1");
}

/**
 * The test a line belongs to: its own title; for a row of a data table (`it.each([...])`,
 * `describe.each(rows)`), the parameterised title that follows; otherwise the nearest enclosing title.
 */
function testFor(lines: string[], at: number): string | undefined {
  const own = titleOf(lines[at]!);
  if (own !== undefined) return own;
  for (let i = at + 1; i < lines.length; i++) {
    if (EACH_TITLE.test(lines[i]!)) return titleOf(lines[i]!);
    if (TEST_START.test(lines[i]!)) break;
  }
  for (let i = at - 1; i >= 0; i--) {
    const title = titleOf(lines[i]!);
    if (title !== undefined && indent(lines[i]!) < indent(lines[at]!)) return title;
  }
  return undefined;
}

/** The scenario ids one test file cites, each with the test that cites it. */
export function citationsIn(file: string, source: string): Map<string, Citation[]> {
  const found = new Map<string, Citation[]>();
  const lines = unwrapTitles(source.split("\n"));
  lines.forEach((line, at) => {
    const ids = idsIn(line);
    if (ids.length === 0) return;
    const test = testFor(lines, at);
    if (test === undefined) return;
    for (const id of ids) {
      const list = found.get(id) ?? [];
      if (!list.some((c) => c.file === file && c.test === test)) list.push({ file, test });
      found.set(id, list);
    }
  });
  return found;
}

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...testFiles(path));
    else if (entry.name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

/** Every citation in the repository's test files, by id. */
export function scanRepository(root = REPO_ROOT): Map<string, Citation[]> {
  const all = new Map<string, Citation[]>();
  const files = TEST_ROOTS.flatMap((dir) => testFiles(join(root, dir))).sort();
  for (const path of files) {
    const file = relative(root, path).split("\\").join("/");
    for (const [id, citations] of citationsIn(file, readFileSync(path, "utf8"))) {
      all.set(id, [...(all.get(id) ?? []), ...citations]);
    }
  }
  return all;
}

/** The scenario ids the document defines (`**W-XX-NN**` list entries), in document order. */
export function definedIds(doc: string): string[] {
  const ids: string[] = [];
  for (const m of doc.matchAll(/^- \*\*(W-[A-Z0-9]+-\d{2})\*\*/gm)) if (!ids.includes(m[1]!)) ids.push(m[1]!);
  return ids;
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/`/g, "'").replace(/\r?\n/g, " ");
}

/**
 * The coverage table: one row per defined id, in document order, then any id that tests cite but the
 * document does not define (marked so, since it points nowhere).
 */
export function coverageTable(defined: string[], cited: Map<string, Citation[]>): string {
  const rows = ["| Scenario | Test file | Test |", "|---|---|---|"];
  const row = (id: string, label: string) => {
    const citations = cited.get(id) ?? [];
    if (citations.length === 0) {
      rows.push(`| ${label} | not covered | |`);
      return;
    }
    for (const c of citations) rows.push(`| ${label} | \`${c.file}\` | ${cell(c.test.replace(/\$id\b/g, id))} |`);
  };
  for (const id of defined) row(id, id);
  for (const id of [...cited.keys()].sort()) if (!defined.includes(id)) row(id, `${id} (not defined in this document)`);
  const covered = defined.filter((id) => (cited.get(id) ?? []).length > 0).length;
  rows.push("", `${covered} of ${defined.length} scenarios covered.`);
  return rows.join("\n");
}

/** The text between the markers, or `undefined` when they are missing or out of order. */
export function extractRegion(doc: string): string | undefined {
  const start = doc.indexOf(COVERAGE_START);
  const end = doc.indexOf(COVERAGE_END);
  if (start < 0 || end < start) return undefined;
  return doc.slice(start + COVERAGE_START.length, end);
}

/** `doc` with the region replaced by `table`, or `undefined` when the markers are missing. */
export function replaceRegion(doc: string, table: string): string | undefined {
  const start = doc.indexOf(COVERAGE_START);
  const end = doc.indexOf(COVERAGE_END);
  if (start < 0 || end < start) return undefined;
  return `${doc.slice(0, start + COVERAGE_START.length)}\n${table}\n${doc.slice(end)}`;
}

/** The table docs/protocol.md should hold now. */
export function currentTable(doc: string, root = REPO_ROOT): string {
  return coverageTable(definedIds(doc), scanRepository(root));
}

function main(): number {
  const doc = readFileSync(PROTOCOL_DOC, "utf8");
  const updated = replaceRegion(doc, currentTable(doc));
  if (updated === undefined) {
    console.error(`docs:coverage: ${PROTOCOL_DOC} has no ${COVERAGE_START} … ${COVERAGE_END} region`);
    return 1;
  }
  if (updated === doc) {
    console.log(`docs:coverage: ${PROTOCOL_DOC} is up to date`);
    return 0;
  }
  writeFileSync(PROTOCOL_DOC, updated);
  console.log(`docs:coverage: updated the coverage table in ${PROTOCOL_DOC}`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main();
