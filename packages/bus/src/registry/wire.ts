/**
 * Registry messages on the wire (UTF-8 JSON, internal `v1` subjects). Everything read from the bus
 * is checked here, so a malformed message is ignored instead of corrupting a router's view.
 *
 * Snapshots are paged so that no message exceeds the NATS payload limit: the first request (empty
 * body) freezes the node's key set and returns page 0 with `parts` and a `token`; the requester asks
 * for pages 1…parts-1 with `{token, part}`. Every page repeats `seq` and `digest` of the frozen set.
 */
import { isValidNodeId, type RegistryDelta, type RegistryHeartbeat, type RegistrySnapshot } from "@tidings/contracts";

/** Body of a snapshot request after the first page. */
export interface SnapshotPageRequest {
  token: string;
  part: number;
}

/** One page of a snapshot: `keys` holds this page's share only. */
export interface SnapshotPage extends RegistrySnapshot {
  part: number;
  parts: number;
  /** Names the frozen key set for the following page requests; null when `parts` is 1. */
  token: string | null;
}

/** The answer when a page is asked for a frozen snapshot that has expired: start over. */
export interface SnapshotGone {
  kind: "snapshot-gone";
  nodeId: string;
}

/**
 * A router's answer on `tidings.v1.registry.ack.<nodeId>`: `ack` once the node's updates up to `seq`
 * are applied there; `router-gone` when that router stops (it acknowledges nothing more).
 */
export type RegistryAck = { kind: "ack"; routerId: string; seq: number } | { kind: "router-gone"; routerId: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function parse(data: Uint8Array): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(decoder.decode(data));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isNode = (v: unknown): v is string => typeof v === "string" && isValidNodeId(v);

/** The formats a heartbeat or snapshot announces: a list of strings, else none (nodes before the field). */
function nodeMessagesOf(v: unknown): { nodeMessages?: string[] } {
  return Array.isArray(v) && v.every((f) => typeof f === "string") ? { nodeMessages: v } : {};
}

function isKeyList(v: unknown): v is string[] {
  if (!Array.isArray(v)) return false;
  for (const k of v) if (typeof k !== "string" || k === "") return false;
  return true;
}

/** A delta or heartbeat from `tidings.v1.registry.delta`, or null when it is neither (or malformed). */
export function decodeRegistryUpdate(data: Uint8Array): RegistryDelta | RegistryHeartbeat | null {
  const m = parse(data);
  if (m === null || !isNode(m["nodeId"]) || !isSeq(m["seq"])) return null;
  if (m["kind"] === "delta") {
    if (m["seq"] < 1 || !isKeyList(m["added"]) || !isKeyList(m["removed"])) return null;
    return { kind: "delta", nodeId: m["nodeId"], seq: m["seq"], added: m["added"], removed: m["removed"] };
  }
  if (m["kind"] === "heartbeat") {
    if (typeof m["digest"] !== "string") return null;
    return { kind: "heartbeat", nodeId: m["nodeId"], seq: m["seq"], digest: m["digest"], ...nodeMessagesOf(m["nodeMessages"]) };
  }
  return null;
}

/** A snapshot page or a `snapshot-gone` answer, or null when malformed. */
export function decodeSnapshotAnswer(data: Uint8Array): SnapshotPage | SnapshotGone | null {
  const m = parse(data);
  if (m === null || !isNode(m["nodeId"])) return null;
  if (m["kind"] === "snapshot-gone") return { kind: "snapshot-gone", nodeId: m["nodeId"] };
  const { seq, keys, digest, part, parts, token } = m;
  if (m["kind"] !== "snapshot" || !isSeq(seq) || !isKeyList(keys) || typeof digest !== "string") return null;
  if (!isSeq(part) || !isSeq(parts) || part >= parts) return null;
  if (token !== null && typeof token !== "string") return null;
  return { kind: "snapshot", nodeId: m["nodeId"], seq, keys, digest, part, parts, token, ...nodeMessagesOf(m["nodeMessages"]) };
}

/** A page request, or null for the first page (empty or unreadable body). */
export function decodePageRequest(data: Uint8Array): SnapshotPageRequest | null {
  if (data.length === 0) return null;
  const m = parse(data);
  if (m === null || typeof m["token"] !== "string" || !isSeq(m["part"])) return null;
  return { token: m["token"], part: m["part"] };
}

/** A router's acknowledgement, or null when malformed. */
export function decodeRegistryAck(data: Uint8Array): RegistryAck | null {
  const m = parse(data);
  if (m === null || typeof m["routerId"] !== "string" || m["routerId"] === "") return null;
  if (m["kind"] === "router-gone") return { kind: "router-gone", routerId: m["routerId"] };
  if (m["kind"] === "ack" && isSeq(m["seq"])) return { kind: "ack", routerId: m["routerId"], seq: m["seq"] };
  return null;
}
