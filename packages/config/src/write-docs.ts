/**
 * `pnpm config:docs`: rewrites the settings table of README.md between
 * `<!-- config:start -->` and `<!-- config:end -->` from the schema.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { DOCS_END, DOCS_START, README_PATH, configDocsTable, replaceDocsRegion } from "./docs-table.js";

function main(): number {
  let readme: string;
  try {
    readme = readFileSync(README_PATH, "utf8");
  } catch (error) {
    console.error(`config:docs: cannot read ${README_PATH}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  const updated = replaceDocsRegion(readme, configDocsTable());
  if (updated === undefined) {
    console.error(
      `config:docs: ${README_PATH} has no settings region. Add a line ${DOCS_START} followed by a line ${DOCS_END} ` +
        "where the table belongs (start before end), then run pnpm config:docs again.",
    );
    return 1;
  }
  if (updated === readme) {
    console.log(`config:docs: ${README_PATH} is up to date`);
    return 0;
  }
  writeFileSync(README_PATH, updated);
  console.log(`config:docs: updated the settings table in ${README_PATH}`);
  return 0;
}

process.exitCode = main();
