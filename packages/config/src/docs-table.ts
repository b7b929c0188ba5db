/**
 * The settings table of README.md, generated from the schema so that it cannot drift.
 */
import { fileURLToPath } from "node:url";
import type { ConfigSchema, Field, Fields } from "./define-config.js";
import { configSchema } from "./schema.js";

export const DOCS_START = "<!-- config:start -->";
export const DOCS_END = "<!-- config:end -->";

/** The repository README, resolved from this package (`packages/config/../../README.md`). */
export const README_PATH = fileURLToPath(new URL("../../../README.md", import.meta.url));

/** Markdown-escapes a table cell: pipes and line breaks would end the cell. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

function code(text: string): string {
  return `\`${text}\``;
}

function defaultCell(field: Field<unknown>): string {
  const value = field.default;
  if (value === undefined) return "(unset)";
  if (Array.isArray(value) && value.length === 0) return "(empty)";
  return code(field.format(value));
}

/** One markdown table of a schema: `| Variable | Default | Description |`, one row per key in schema order. */
export function docsTableOf<F extends Fields>(schema: ConfigSchema<F>): string {
  const rows = ["| Variable | Default | Description |", "|---|---|---|"];
  for (const key of schema.keys) {
    const field = schema.fields[key];
    if (field === undefined) continue;
    const expects = field.expected === "a string" ? "" : ` Expects ${field.expected}.`;
    const description = `${field.doc}${expects}${field.secret ? " Secret: masked in error messages." : ""}`;
    rows.push(`| ${code(schema.envName(key))} | ${cell(defaultCell(field))} | ${cell(description)} |`);
  }
  return rows.join("\n");
}

/** The Tidings settings table for README.md. */
export function configDocsTable(): string {
  return docsTableOf(configSchema);
}

/** The text between the markers, or `undefined` when either marker is missing or they are out of order. */
export function extractDocsRegion(readme: string): string | undefined {
  const start = readme.indexOf(DOCS_START);
  const end = readme.indexOf(DOCS_END);
  if (start < 0 || end < start) return undefined;
  return readme.slice(start + DOCS_START.length, end);
}

/**
 * `readme` with the text between the markers replaced by `table` (on its own lines), or
 * `undefined` when the markers are missing.
 */
export function replaceDocsRegion(readme: string, table: string): string | undefined {
  const start = readme.indexOf(DOCS_START);
  const end = readme.indexOf(DOCS_END);
  if (start < 0 || end < start) return undefined;
  return `${readme.slice(0, start + DOCS_START.length)}\n${table}\n${readme.slice(end)}`;
}
