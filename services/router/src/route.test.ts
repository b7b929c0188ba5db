import { describe, expect, it } from "vitest";
import { MemoryAudienceRegistry, registryDigest } from "@tidings/bus";
import {
  FRAMED_NODE_MESSAGES,
  mintId,
  NodeMessage,
  notificationCodec,
  subjects,
  validateEnvelope,
  type Bus,
  type Notification,
} from "@tidings/contracts";
import { createRoute } from "./route.js";

function notification(audienceType: 1 | 3 | 5, audienceValue?: string): Notification {
  const r = validateEnvelope(
    { id: "n-1", type: "invoice-ready", routing: { audienceType, audienceValue }, metadata: { producer: "billing" }, body: { a: 1 } },
    { now: new Date("2026-01-01T00:00:00Z"), defaultTtlSeconds: 60, maxNotificationBytes: 65536 },
  );
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.notification;
}

/** A router's route over a registry of a framed node and a node that reads only the notification's JSON; what each subject got. */
function routeOver(): { route: ReturnType<typeof createRoute>; published: Array<[string, Uint8Array]> } {
  const registry = new MemoryAudienceRegistry();
  for (const [nodeId, nodeMessages] of [
    ["framed", [FRAMED_NODE_MESSAGES]],
    ["plain", undefined],
  ] as const) {
    const keys = ["group:g"];
    registry.applySnapshot({
      kind: "snapshot",
      nodeId,
      seq: 0,
      keys,
      digest: registryDigest(keys),
      ...(nodeMessages ? { nodeMessages } : {}),
    });
  }
  const published: Array<[string, Uint8Array]> = [];
  const bus = { publish: (subject: string, data: Uint8Array) => void published.push([subject, data]) } as unknown as Bus;
  return { route: createRoute({ bus, registry }), published };
}

describe("route: the node-message format follows what each node announced", () => {
  it("a node that announced framed messages gets the framed message, an older node the notification's JSON", () => {
    const { route, published } = routeOver();
    const n = notification(3, "g");
    expect(route(n)).toBe(2);
    const bySubject = new Map(published);
    const framed = bySubject.get(subjects.node("framed"))!;
    const plain = bySubject.get(subjects.node("plain"))!;
    expect(plain).toEqual(notificationCodec.encode(n));
    expect(NodeMessage.read(framed).jsonFrame).not.toBeNull();
    expect(NodeMessage.read(framed).notification()).toStrictEqual(n);
    // Global goes to both nodes: still one framed and one JSON encoding, the same bytes for every node of a format
    expect(route(notification(1))).toBe(2);
    expect(
      published
        .slice(2)
        .map(([subject, data]) => [subject, data[0] === 0x7b ? "json" : "framed"])
        .sort(),
    ).toEqual([
      [subjects.node("framed"), "framed"],
      [subjects.node("plain"), "json"],
    ]);
  });

  it("a Connection audience is sent in its owner node's format", () => {
    const { route, published } = routeOver();
    route(notification(5, mintId("framed")));
    route(notification(5, mintId("plain")));
    expect(published.map(([subject, data]) => [subject, data[0] === 0x7b ? "json" : "framed"])).toEqual([
      [subjects.node("framed"), "framed"],
      [subjects.node("plain"), "json"],
    ]);
  });
});
