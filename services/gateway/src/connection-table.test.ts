import { describe, expect, it } from "vitest";
import type { HubConnection } from "./connection.js";
import { ConnectionTable } from "./connection-table.js";

/** The members the table reads of a connection. */
function ended(id: string, negotiateVersion: 0 | 1 | null): HubConnection {
  return { id, token: `${id}-token`, negotiateVersion, state: "closed", identity: { userId: null } } as unknown as HubConnection;
}

describe("connection table tombstones", () => {
  it("W-LP-05 an ended negotiated connection leaves a tombstone for the window; one opened without negotiate leaves none", () => {
    const table = new ConnectionTable(15_000);
    const v1 = ended("a", 1);
    const v0 = ended("b", 0);
    const skipped = ended("c", null);
    for (const c of [v1, v0, skipped]) {
      table.add(c);
      table.remove(c);
    }
    const now = Date.now();
    expect(table.endedByTransportId(v1.token, now)).toBe(v1);
    expect(table.endedByTransportId(v0.token, now)).toBe(v0);
    // Its id was never sent to the client: keeping it would only hold the connection in memory.
    expect(table.endedByTransportId(skipped.token, now)).toBeUndefined();
    expect(table.endedByTransportId(v1.token, now + 15_001)).toBeUndefined();
  });
});
