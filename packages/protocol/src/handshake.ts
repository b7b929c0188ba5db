import { asciiLowerCase } from "./ascii.js";
import { ByteBuffer } from "./byte-buffer.js";
import { HandshakeErrors } from "./errors.js";
import { RECORD_SEPARATOR } from "./messages.js";
import type { ProtocolName } from "./messages.js";
import { isPlainObject } from "./plain-data.js";

/** `{}␞` (7B 7D 1E): the successful handshake response, identical for both protocols; never mutate. */
export const HANDSHAKE_OK: Uint8Array = Uint8Array.of(0x7b, 0x7d, RECORD_SEPARATOR);

/** Highest handshake version accepted for both protocols; every lower integer is accepted too (docs/protocol.md §4.1). */
const MAX_HANDSHAKE_VERSION = 2;

export type HandshakeOutcome =
  | { status: "incomplete" }
  | { status: "ok"; protocol: ProtocolName; version: number; rest: Uint8Array }
  | { status: "error"; error: string };

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `{"error":"…"}␞`. Never carries a `type` property (docs/protocol.md §4.1); escaping is JSON.stringify's. */
export function encodeHandshakeError(error: string): Uint8Array {
  return textEncoder.encode(`${JSON.stringify({ error })}\u001e`);
}

function isInt32(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= -0x80000000 && value <= 0x7fffffff;
}

/** The handshake record without its separator → outcome (never "incomplete"). */
export function parseHandshakeRecord(bytes: Uint8Array, rest: Uint8Array): HandshakeOutcome {
  let request: unknown;
  try {
    request = JSON.parse(textDecoder.decode(bytes));
  } catch {
    return { status: "error", error: HandshakeErrors.unexpected };
  }
  if (!isPlainObject(request)) return { status: "error", error: HandshakeErrors.unexpected };
  const name = request["protocol"];
  // ASP.NET reads `version` as Int32: strings, fractions and out-of-range numbers are parse failures.
  const version = request["version"];
  if (typeof name !== "string" || !isInt32(version)) return { status: "error", error: HandshakeErrors.unexpected };
  const folded = asciiLowerCase(name);
  if (folded !== "json" && folded !== "messagepack") {
    return { status: "error", error: HandshakeErrors.unsupportedProtocol(name) };
  }
  if (version > MAX_HANDSHAKE_VERSION) {
    return { status: "error", error: HandshakeErrors.unsupportedVersion(version, folded) };
  }
  return { status: "ok", protocol: folded, version, rest };
}

/**
 * Incremental handshake reader for one connection. maxBytes = TIDINGS_MAX_MESSAGE_BYTES: once that
 * many bytes arrived without a ␞, the outcome is "Handshake was canceled." (a ␞ within the first
 * maxBytes bytes is always honoured). The first ok/error outcome is final: later pushes return the
 * same error, or for ok the same protocol with `rest` = the new chunk, which is all hub data.
 * Chunks are never retained; `rest` is a copy.
 */
export function createHandshakeParser(maxBytes: number): { push(chunk: Uint8Array): HandshakeOutcome } {
  const partial = new ByteBuffer();
  let outcome: HandshakeOutcome | undefined;

  function settle(result: HandshakeOutcome): HandshakeOutcome {
    outcome = result;
    partial.clear();
    return result;
  }

  return {
    push(chunk: Uint8Array): HandshakeOutcome {
      if (outcome !== undefined) {
        return outcome.status === "ok" ? { ...outcome, rest: chunk.slice() } : outcome;
      }
      const separator = chunk.indexOf(RECORD_SEPARATOR);
      const before = separator === -1 ? chunk.length : separator;
      if (partial.length + before >= maxBytes) {
        return settle({ status: "error", error: HandshakeErrors.canceled });
      }
      if (separator === -1) {
        partial.append(chunk);
        return { status: "incomplete" };
      }
      let record: Uint8Array;
      if (partial.length === 0) {
        record = chunk.subarray(0, separator);
      } else {
        partial.append(chunk.subarray(0, separator));
        record = partial.view();
      }
      return settle(parseHandshakeRecord(record, chunk.slice(separator + 1)));
    },
  };
}
