/**
 * Producer message bodies (docs/contract.md §7 "Over NATS"): UTF-8 JSON, or MessagePack marked by header
 * `Content-Type: application/msgpack`. Dates go as ISO-8601 strings in both (no MessagePack
 * timestamp extension is written; one that is read decodes to a `Date`).
 */
import { decode as decodeMsgpack, encode as encodeMsgpack } from "@msgpack/msgpack";
import { MAX_BODY_DEPTH, type BusHeaders } from "@tidings/contracts";
import { headerValue } from "./headers.js";
import { nestedWithin } from "./nesting.js";

export const MSGPACK_CONTENT_TYPE = "application/msgpack";

export type IngestFormat = "json" | "msgpack";

/** `nesting`: refused before decoding as nested deeper than `MAX_INGEST_NESTING` (it may be well-formed). */
export type IngestDecodeResult =
  { ok: true; format: IngestFormat; value: unknown } | { ok: false; format: IngestFormat; error: string; nesting?: true };

/**
 * Deepest nesting of arrays and maps in a producer body: a batch array, the envelope, and its body of
 * at most MAX_BODY_DEPTH levels. Checked before decoding on bodies over `NESTING_SCAN_BYTES` only:
 * a smaller body cannot nest deeply enough to cost much, and the check would cost every small one.
 */
export const MAX_INGEST_NESTING = MAX_BODY_DEPTH + 2;
const NESTING_SCAN_BYTES = 64 * 1024;

/** True when a producer body is refused before decoding: over `NESTING_SCAN_BYTES` and nested deeper than `MAX_INGEST_NESTING`. */
export function nestedTooDeep(data: Uint8Array, format: IngestFormat): boolean {
  return data.byteLength > NESTING_SCAN_BYTES && !nestedWithin(data, format, MAX_INGEST_NESTING);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** The format a message's headers announce: MessagePack when `Content-Type` (any case, parameters ignored) says so, else JSON. */
export function ingestFormat(headers: BusHeaders | null): IngestFormat {
  const contentType = headerValue(headers, "Content-Type");
  return contentType !== undefined && contentType.split(";")[0]!.trim().toLowerCase() === MSGPACK_CONTENT_TYPE ? "msgpack" : "json";
}

/** Decodes a producer body; never throws (invalid UTF-8, JSON or MessagePack gives `ok: false`). */
export function decodeIngestBody(data: Uint8Array, headers: BusHeaders | null): IngestDecodeResult {
  const format = ingestFormat(headers);
  if (nestedTooDeep(data, format)) return { ok: false, format, error: `nested deeper than ${MAX_INGEST_NESTING} levels`, nesting: true };
  try {
    const value: unknown = format === "msgpack" ? decodeMsgpack(data) : JSON.parse(utf8.decode(data));
    return { ok: true, format, value };
  } catch (error) {
    return { ok: false, format, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Encodes an envelope for publishing, with the headers that mark its format. */
export function encodeIngestBody(envelope: unknown, format: IngestFormat): { data: Uint8Array; headers: BusHeaders } {
  if (format === "msgpack") return { data: encodeMsgpack(envelope), headers: { "Content-Type": MSGPACK_CONTENT_TYPE } };
  return { data: encoder.encode(JSON.stringify(envelope)), headers: { "Content-Type": "application/json" } };
}
