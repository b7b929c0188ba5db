import {
  AUDIENCE_KINDS,
  encodeFramedNodeMessage,
  notificationCodec,
  ownerOf,
  subjects,
  type AudienceRegistry,
  type Bus,
  type BusHeaders,
  type Notification,
} from "@tidings/contracts";

export interface RouteDeps {
  bus: Bus;
  registry: AudienceRegistry;
  /** Called with the number of node publishes of each routed notification. */
  onPublished?: (count: number) => void;
}

/** Publishes one notification to its owning nodes; returns how many node subjects it went to. */
export type RouteFn = (n: Notification, headers?: BusHeaders) => number;

/**
 * The owning-node fan-out (docs/architecture.md §2, step 2). Owners: for a Connection audience
 * the node encoded in the connection id (no lookup; an id Tidings did not mint has no owner); for
 * Global every live node; otherwise the registry's nodes for the audience key. The notification is
 * encoded once per format its owners read (framed for nodes that announced it, else its JSON) and the
 * same bytes are published once per owner on `tidings.v1.node.<id>`; nodes without a matching
 * connection get nothing.
 */
export function createRoute(deps: RouteDeps): RouteFn {
  const { bus, registry, onPublished } = deps;
  const framedNodes = registry.framedNodes();
  const encodeFor = (nodeId: string, n: Notification) =>
    framedNodes.has(nodeId) ? encodeFramedNodeMessage(n) : notificationCodec.encode(n);
  // Subject strings per node, so the hot path skips re-validating the same node ids.
  const nodeSubjects = new Map<string, string>();
  const subjectOf = (nodeId: string): string => {
    let s = nodeSubjects.get(nodeId);
    if (s === undefined) {
      s = subjects.node(nodeId);
      nodeSubjects.set(nodeId, s);
    }
    return s;
  };
  // Nodes come and go; forget their subjects now and then rather than keep every id ever seen.
  const MAX_CACHED_SUBJECTS = 100_000;

  return (n, headers) => {
    let count = 0;
    if (AUDIENCE_KINDS[n.routing.audienceType].byConnectionId) {
      const owner = ownerOf(n.routing.audienceValue);
      if (owner === null) return 0;
      bus.publish(subjectOf(owner), encodeFor(owner, n), headers);
      count = 1;
    } else {
      const owners = registry.nodesFor(n.routing.audienceId);
      if (owners.size === 0) return 0;
      // One encode per format, shared by every node reading it.
      let framed: Uint8Array | null = null;
      let json: Uint8Array | null = null;
      for (const nodeId of owners) {
        const data = framedNodes.has(nodeId) ? (framed ??= encodeFramedNodeMessage(n)) : (json ??= notificationCodec.encode(n));
        bus.publish(subjectOf(nodeId), data, headers);
        count++;
      }
    }
    if (nodeSubjects.size > MAX_CACHED_SUBJECTS) nodeSubjects.clear();
    onPublished?.(count);
    return count;
  };
}
