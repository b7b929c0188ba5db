import type { DeliveredNotification, NotificationStore } from "@tidings/contracts";
import { createLogger } from "@tidings/observability";
import { describe, expect, it } from "vitest";
import { BusCatchUp, type CatchUpDeps } from "./catch-up.js";
import type { HubConnection } from "./connection.js";

type Replay = CatchUpDeps["replay"];
const fakeConnection = (id: string, audiences: string[], state: HubConnection["state"] = "open") =>
  ({ id, state, audiences: new Set(audiences) }) as unknown as HubConnection;

function catchUp(connections: HubConnection[], replay: Replay, extra: Partial<CatchUpDeps> = {}) {
  return new BusCatchUp({
    store: {} as NotificationStore,
    connections: () => connections,
    replay,
    deliveredLive: () => false,
    lookBackMs: 40_000,
    log: createLogger({ level: "silent", service: "test" }),
    ...extra,
  });
}

describe("BusCatchUp", () => {
  it("does nothing on a reconnect without an outage", async () => {
    const calls: string[] = [];
    const c = catchUp([fakeConnection("a", ["global"])], async (conn) => (calls.push(conn.id), 0));
    await c.reconnected();
    expect(calls).toEqual([]);
  });

  it("replays every open connection's audiences from lookBackMs before the earliest reported outage start, passing the live-delivery filter", async () => {
    const seen: { id: string; audiences: readonly string[]; since: number; skipped: boolean }[] = [];
    const live = { audienceId: "user:u", id: "n1" } as DeliveredNotification;
    const c = catchUp(
      [fakeConnection("a", ["global", "user:u"]), fakeConnection("b", ["global"], "closed"), fakeConnection("c", [])],
      async (conn, audiences, since, skip) => (seen.push({ id: conn.id, audiences, since: since.getTime(), skipped: skip(live) }), 2),
      {
        deliveredLive: (audienceId, id) => audienceId === "user:u" && id === "n1",
        onCaughtUp: (n, sent) => seen.push({ id: `done ${n} ${sent}`, audiences: [], since: 0, skipped: false }),
      },
    );
    c.disconnected(1_005_000);
    // A stall noticed after the disconnect began earlier (its last heartbeat): the earliest start counts.
    c.disconnected(1_000_000);
    c.disconnected(1_007_000); // a later notice within the same outage changes nothing
    await c.reconnected();
    expect(seen).toEqual([
      { id: "a", audiences: ["global", "user:u"], since: 1_000_000 - 40_000, skipped: true },
      { id: "done 1 2", audiences: [], since: 0, skipped: false },
    ]);
    await c.reconnected(); // the outage is over: nothing more
    expect(seen).toHaveLength(2);
  });

  it("retries a replay the store did not answer while the connection is open, and stops when it closes", async () => {
    const open = fakeConnection("open", ["user:a"]);
    const closing = fakeConnection("closing", ["user:b"]);
    const attempts = new Map<string, number>();
    const c = catchUp([open, closing], async (conn) => {
      const n = (attempts.get(conn.id) ?? 0) + 1;
      attempts.set(conn.id, n);
      if (conn.id === "closing") (conn as { state: string }).state = "closed";
      return conn.id === "open" && n < 3 ? "failed" : conn.id === "open" ? 1 : "failed";
    });
    c.disconnected();
    await c.reconnected();
    expect(Object.fromEntries(attempts)).toEqual({ open: 3, closing: 1 });
  });
});
