/**
 * NATS names, built only here. Tokens are dot-separated; `v1` marks internal subjects whose payload
 * format may change between versions. Producer-facing names (`tidings.notify.>`, `tidings.deadletter`,
 * stream `TIDINGS`) are part of the product contract and never change.
 */

// One or more tokens: no empty token, no whitespace or control character, no wildcard.
const SUBJECT_TOKENS = /^[^\x00-\x20\x7f*>.]+(?:\.[^\x00-\x20\x7f*>.]+)*$/;
// Exactly one token.
const SUBJECT_TOKEN = /^[^\x00-\x20\x7f*>.]+$/;

function tokens(kind: string, value: string): string {
  if (!SUBJECT_TOKENS.test(value)) throw new RangeError(`Invalid NATS subject ${kind}: ${JSON.stringify(value)}`);
  return value;
}

function token(kind: string, value: string): string {
  if (!SUBJECT_TOKEN.test(value)) throw new RangeError(`Invalid NATS subject token for ${kind}: ${JSON.stringify(value)}`);
  return value;
}

export const subjects = {
  /** Where producers publish: `tidings.notify.<suffix>`; `suffix` may hold several tokens (`billing.eu`). Throws RangeError on an empty token, whitespace or a wildcard. */
  notify(suffix: string): string {
    return "tidings.notify." + tokens("suffix", suffix);
  },
  /** Every producer subject; what stream `TIDINGS` captures. */
  notifyWildcard: "tidings.notify.>",
  /** The JetStream stream of producer envelopes. */
  stream: "TIDINGS",
  /**
   * Router → one gateway node: `tidings.v1.node.<nodeId>`. Node ids may contain dots (they are
   * matched exactly); throws RangeError on whitespace, a wildcard or an empty token.
   */
  node(nodeId: string): string {
    return "tidings.v1.node." + tokens("nodeId", nodeId);
  },
  /** Invalid envelopes, republished with header `Tidings-Error: <reason>`. */
  deadLetter: "tidings.deadletter",
  /** Registry deltas and heartbeats from every gateway node. */
  registryDelta: "tidings.v1.registry.delta",
  /**
   * Broadcast from a starting router to every gateway node: each answers at once with a heartbeat on
   * `registryDelta`, so the router learns every live node without waiting a heartbeat interval.
   */
  registrySync: "tidings.v1.registry.sync",
  /**
   * Router → one gateway node: `tidings.v1.registry.ack.<nodeId>`. Every router acknowledges each
   * delta and heartbeat of the node once applied (and says when it leaves), so the node can hold a
   * membership change back from its client until every live router routes by it.
   */
  registryAck(nodeId: string): string {
    return "tidings.v1.registry.ack." + tokens("nodeId", nodeId);
  },
  /**
   * Router roster, router → routers and gateways: each router's heartbeat (id, whether it has loaded
   * its partitions, the partitions it consumes) and its leave message. Every process derives the same
   * shard map from it.
   */
  routers: "tidings.v1.routers",
  /** Internal partitioned ingest: `tidings.v1.part.<p>`, one subject per registry partition. */
  partition(p: number): string {
    if (!Number.isSafeInteger(p) || p < 0) throw new RangeError(`Invalid partition: ${p}`);
    return "tidings.v1.part." + p;
  },
  /** Every partition subject; what stream `TIDINGS_PARTS` captures. */
  partitionWildcard: "tidings.v1.part.>",
  /** The JetStream stream of partitioned ingest (only with more than one registry partition). */
  partitionStream: "TIDINGS_PARTS",
  /** Read-state events for a user's devices, broadcast to every gateway node (each delivers to its local connections of that user). */
  userEvents: "tidings.v1.events.user",
  /** Request-reply: a node's full registry snapshot, `tidings.v1.registry.snapshot.<nodeId>`. */
  registrySnapshot(nodeId: string): string {
    return "tidings.v1.registry.snapshot." + tokens("nodeId", nodeId);
  },
  /**
   * Request-reply to one gateway node: `tidings.v1.forward.<nodeId>` carries hub requests that reached
   * another node for a connection this node owns (docs/protocol.md §12), and their abort signals.
   */
  forward(nodeId: string): string {
    return "tidings.v1.forward." + tokens("nodeId", nodeId);
  },
  /** One relayed SSE stream, owner → relaying node: `tidings.v1.relay.<nodeId>.<streamId>` (`streamId` is one token). */
  relayStream(nodeId: string, streamId: string): string {
    return "tidings.v1.relay." + tokens("nodeId", nodeId) + "." + token("streamId", streamId);
  },
  /** Request-reply to the store: `tidings.v1.store.<op>`; `op` is one token (`replay`, `setState` …). */
  storeRequest(op: string): string {
    return "tidings.v1.store." + token("op", op);
  },
} as const;
