import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DOCS_END, DOCS_START, README_PATH, configDocsTable, extractDocsRegion, replaceDocsRegion } from "./docs-table.js";
import { configSchema } from "./schema.js";

describe("configDocsTable", () => {
  const table = configDocsTable();
  const lines = table.split("\n");

  it("configDocsTable - has the header and one row per key, in schema order", () => {
    expect(lines[0]).toBe("| Variable | Default | Description |");
    expect(lines[1]).toBe("|---|---|---|");
    const rows = lines.slice(2);
    expect(rows).toHaveLength(configSchema.keys.length);
    rows.forEach((row, i) => {
      const key = configSchema.keys[i];
      if (key === undefined) throw new Error(`row ${i} has no key`);
      expect(row.startsWith(`| \`${configSchema.envName(key)}\` | `)).toBe(true);
    });
  });

  it("configDocsTable - every row has exactly three cells, even when a doc contains a pipe", () => {
    for (const row of lines) {
      const cells = row.replace(/\\\|/g, "").split("|").slice(1, -1);
      expect(cells, row).toHaveLength(3);
    }
  });

  it("configDocsTable - shows defaults as written in the environment, and marks unset and empty ones", () => {
    expect(table).toContain("| `TIDINGS_TRANSPORTS` | `WebSockets,ServerSentEvents,LongPolling` |");
    expect(table).toContain("| `TIDINGS_KEEPALIVE_SECONDS` | `15` |");
    expect(table).toContain("| `TIDINGS_STATEFUL_RECONNECT` | `true` |");
    expect(table).toContain("| `TIDINGS_AUTH_JWT_SECRET` | (unset) |");
    expect(table).toContain("| `TIDINGS_CORS_ORIGINS` | (empty) |");
    expect(table).toContain("| `TIDINGS_HOST` | `0.0.0.0` | Address the HTTP and hub port listens on. |");
    expect(table).toMatch(/\| `TIDINGS_AUTH_JWT_SECRET` \|[^\n]*Secret: masked in error messages\./);
  });
});

describe("docs region", () => {
  const readme = `# Tidings\n\nintro\n\n${DOCS_START}\nold table\n${DOCS_END}\n\nafter\n`;

  it("docs region - replace writes the table between the markers and keeps the rest", () => {
    const updated = replaceDocsRegion(readme, "| new |");
    expect(updated).toBe(`# Tidings\n\nintro\n\n${DOCS_START}\n| new |\n${DOCS_END}\n\nafter\n`);
    expect(extractDocsRegion(updated ?? "")).toBe("\n| new |\n");
    expect(replaceDocsRegion(updated ?? "", "| new |")).toBe(updated);
  });

  it("docs region - missing or reversed markers are reported as undefined", () => {
    expect(replaceDocsRegion("# Tidings\n", "t")).toBeUndefined();
    expect(extractDocsRegion(`${DOCS_START}\n`)).toBeUndefined();
    expect(extractDocsRegion(`${DOCS_END}\n${DOCS_START}\n`)).toBeUndefined();
  });

  it.skipIf(!existsSync(README_PATH))("docs region - README.md shows the current settings table", () => {
    const region = extractDocsRegion(readFileSync(README_PATH, "utf8"));
    if (region === undefined) {
      expect.fail(
        `README.md has no settings region: add the lines ${DOCS_START} and ${DOCS_END} where the table belongs, then run \`pnpm config:docs\``,
      );
    }
    expect(region.trim(), "README.md settings table is stale: run `pnpm config:docs`").toBe(configDocsTable());
  });
});
