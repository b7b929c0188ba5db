import { randomFillSync } from "node:crypto";

const RANDOM_CHARS = 22; // 16 CSPRNG bytes as unpadded base64url
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Node ids are embedded in connection ids; they must stay short and URL-safe. */
export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID.test(nodeId);
}

const RANDOM_BYTES = 16;
/**
 * CSPRNG bytes for the next 256 ids, drawn in one call: a call per id (two per connect) was most of
 * minting's cost. Each id takes the next 16 unused bytes; none is handed out twice.
 */
const pool = Buffer.allocUnsafeSlow(RANDOM_BYTES * 256);
let poolAt = pool.length;
/** The base64url form of the last node id minted for (a process mints for its own node). */
let lastNode = "";
let lastNodeText = "";

/**
 * Mints an opaque id: 128 random bits followed by the owner's node id, all base64url
 * (`A-Z a-z 0-9 - _`, no padding), so the JS client can append it unencoded (docs/protocol.md §2.4).
 * Two ids minted here share no random bits.
 */
export function mintId(nodeId: string): string {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const random = pool.toString("base64url", poolAt, (poolAt += RANDOM_BYTES));
  if (nodeId !== lastNode) {
    lastNodeText = Buffer.from(nodeId, "utf8").toString("base64url");
    lastNode = nodeId;
  }
  return random + lastNodeText;
}

/** The owner node encoded in an id, or null when the id is not one Tidings minted. */
export function ownerOf(id: string): string | null {
  if (id.length <= RANDOM_CHARS || id.length > 128 || !/^[A-Za-z0-9_-]+$/.test(id)) return null;
  const nodeId = Buffer.from(id.slice(RANDOM_CHARS), "base64url").toString("utf8");
  return isValidNodeId(nodeId) ? nodeId : null;
}
