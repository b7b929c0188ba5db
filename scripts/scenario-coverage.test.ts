import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  PROTOCOL_DOC,
  citationsIn,
  coverageTable,
  currentTable,
  definedIds,
  extractRegion,
  idsIn,
  replaceRegion,
  scanRepository,
} from "./scenario-coverage.js";

describe("scenario ids", () => {
  it("expands the W-X-01/02 shorthand and ignores look-alikes", () => {
    expect(idsIn('it("W-BAD-02/03 x (W-SR-07), W-NEG-1, XW-LP-01")')).toEqual(["W-BAD-02", "W-BAD-03", "W-SR-07"]);
  });

  it("reads the defined ids from list entries only, in document order, once each", () => {
    const doc = "- **W-LP-02** — a\n- **W-LP-01** — b\ntext W-LP-03\n- **W-LP-02** — again\n";
    expect(definedIds(doc)).toEqual(["W-LP-02", "W-LP-01"]);
  });
});

describe("citations", () => {
  const source = [
    "const rows = [",
    '  { id: "W-MX-01", protocol: "json" },',
    "] as const;",
    'describe.each(rows)("$id client $protocol", () => {',
    '  it("W-HS-01 accepts json", async () => {',
    "    ws.close(); // graceful, no reattach (W-SR-07)",
    "  });",
    "  it.each([",
    '    ["a", "W-HS-02"],',
    '  ])("%s → handshake error [%s]", async () => {});',
    "  it(",
    '    "W-LP-03 a title wrapped onto its own line",',
    "    { timeout: 1 },",
    "    async () => {},",
    "  );",
    '  it.each(["a", "b"] as const)(',
    '    "W-V0-02 wrapped parameterised title %s",',
    "    async () => {},",
    "  );",
    "});",
  ].join("\n");
  const found = citationsIn("t/x.test.ts", source);
  const test = (id: string) => found.get(id)?.map((c) => c.test);

  it("a title citing the id names itself", () => {
    expect(test("W-HS-01")).toEqual(["W-HS-01 accepts json"]);
  });

  it("a data-table row belongs to the parameterised title that follows it", () => {
    expect(test("W-MX-01")).toEqual(["$id client $protocol"]);
    expect(test("W-HS-02")).toEqual(["%s → handshake error [%s]"]);
  });

  it("a title the formatter wrapped onto the line after its call still names itself", () => {
    expect(test("W-LP-03")).toEqual(["W-LP-03 a title wrapped onto its own line"]);
    expect(test("W-V0-02")).toEqual(["W-V0-02 wrapped parameterised title %s"]);
  });

  it("a comment inside a test belongs to the enclosing test", () => {
    expect(test("W-SR-07")).toEqual(["W-HS-01 accepts json"]);
  });

  it("an id without a test is 'not covered'; an undefined cited id is flagged", () => {
    const table = coverageTable(["W-HS-01", "W-HS-09"], found);
    expect(table).toContain("| W-HS-01 | `t/x.test.ts` | W-HS-01 accepts json |");
    expect(table).toContain("| W-HS-09 | not covered | |");
    expect(table).toContain("| W-SR-07 (not defined in this document) |");
    expect(table).toContain("1 of 2 scenarios covered.");
  });

  it("replaces only the marked region", () => {
    const doc = "a\n<!-- coverage:start -->\nold\n<!-- coverage:end -->\nb";
    expect(replaceRegion(doc, "new")).toBe("a\n<!-- coverage:start -->\nnew\n<!-- coverage:end -->\nb");
    expect(replaceRegion("no markers", "new")).toBeUndefined();
  });
});

describe("docs/protocol.md", () => {
  const doc = readFileSync(PROTOCOL_DOC, "utf8");

  it("defines every scenario id a test cites", () => {
    const defined = new Set(definedIds(doc));
    expect([...scanRepository().keys()].filter((id) => !defined.has(id))).toEqual([]);
  });

  it("shows the current coverage table", () => {
    const region = extractRegion(doc);
    expect(region, "docs/protocol.md has no coverage region").toBeDefined();
    expect(region!.trim(), "docs/protocol.md coverage table is stale: run `pnpm docs:coverage`").toBe(currentTable(doc));
  });
});
