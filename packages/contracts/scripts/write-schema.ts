// Writes the envelope's JSON Schemas and the AsyncAPI document from packages/contracts (`pnpm schema:docs`).
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { generatedDocuments } from "./documents.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
for (const [file, content] of Object.entries(generatedDocuments())) {
  mkdirSync(dirname(root + file), { recursive: true });
  writeFileSync(root + file, content);
  process.stdout.write(`wrote ${file}\n`);
}
