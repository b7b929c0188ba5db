import { describe, expect, it } from "vitest";
import type { HubConnection } from "./connection.js";
import { ConnectionTable } from "./connection-table.js";

/** The members the table reads of a connection (a long-polling one has a transport that `poll`s). */
function ended(id: string, negotiateVersion: 0 | 1 | null, longPolling = false): HubConnection {
  const transport = { capabilities: { downstream: longPolling ? "poll" : "socket" } };
  return { id, token: `${id}-token`, negotiateVersion, state: "closed", identity: { userId: null }, transport } as unknown as HubConnection;
}

describe("connection table tombstones", () => {
  it("W-LP-05 an ended negotiated connection leaves a tombstone for the window (holding the connection only when it was long polling); one opened without negotiate leaves none", () => {
    const table = new ConnectionTable(15_000);
    const v1 = ended("a", 1, true);
    const v0 = ended("b", 0, true);
    const skipped = ended("c", null);
    const webSocket = ended("d", 1);
    for (const c of [v1, v0, skipped, webSocket]) {
      table.add(c);
      table.remove(c);
    }
    const now = Date.now();
    expect(table.endedByTransportId(v1.token, now)).toBe(v1);
    expect(table.endedByTransportId(v0.token, now)).toBe(v0);
    // Its id was never sent to the client: keeping it would only hold the connection in memory.
    expect(table.endedByTransportId(skipped.token, now)).toBeUndefined();
    // Another transport's tombstone answers without the connection: nothing of it stays in memory.
    expect(table.endedByTransportId(webSocket.token, now)).toBeNull();
    expect(table.endedByTransportId(v1.token, now + 15_001)).toBeUndefined();
  });
});
