import type {
  AckMessage,
  CancelInvocationMessage,
  CloseMessage,
  InvocationMessage,
  PingMessage,
  SequenceMessage,
  StreamInvocationMessage,
  StreamItemMessage,
  UnknownMessage,
} from "./messages.js";
import { isPlainObject } from "./plain-data.js";

/*
 * Field rules shared by both protocols. Each decoder extracts raw fields (JSON properties or
 * MessagePack array elements, `undefined` when absent) and builds messages here, so JSON and
 * MessagePack accept exactly the same messages. `null`/nil for an optional field means absent (docs/protocol.md §4.2).
 * A rule violation throws INVALID_MESSAGE, which the decoders turn into "Invalid message".
 */

/**
 * Thrown (never escapes the package) when a well-formed record is not a valid hub message. One
 * pre-built instance: bad input costs no stack capture, and decoders recognise it by identity.
 */
export const INVALID_MESSAGE: Error = new Error("Invalid message");

export function fail(): never {
  throw INVALID_MESSAGE;
}

export function isInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value);
}

function requireString(value: unknown): string {
  return typeof value === "string" ? value : fail();
}

function requireArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : fail();
}

/**
 * Headers: any map is accepted (docs/protocol.md §4.3); entries whose value is not a string are dropped, since
 * Tidings reads no header. Absent/null → undefined. Object.fromEntries defines keys as own data
 * properties, so a "__proto__" header cannot touch the prototype.
 */
export function readHeaders(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) return fail();
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
}

/** Invocation id: absent, null/nil and "" all mean "no reply expected" (docs/protocol.md §4.5). */
function readOptionalInvocationId(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  return requireString(value);
}

function readStreamIds(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const ids = requireArray(value);
  for (const id of ids) requireString(id);
  return ids as string[];
}

export function requireInvocationId(value: unknown): string {
  return requireString(value);
}

export function readOptionalString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return requireString(value);
}

export function invocation(headers: unknown, invocationId: unknown, target: unknown, args: unknown, streamIds: unknown): InvocationMessage {
  const message: InvocationMessage = { type: 1, target: requireString(target), arguments: requireArray(args) };
  const h = readHeaders(headers);
  if (h !== undefined) message.headers = h;
  const id = readOptionalInvocationId(invocationId);
  if (id !== undefined) message.invocationId = id;
  const ids = readStreamIds(streamIds);
  if (ids !== undefined) message.streamIds = ids;
  return message;
}

/**
 * A StreamInvocation is answered with an error Completion for its id, so the id must be a non-empty
 * string: "" could not be echoed (JSON output never carries `"invocationId":""`, docs/protocol.md §4.6).
 */
export function streamInvocation(
  headers: unknown,
  invocationId: unknown,
  target: unknown,
  args: unknown,
  streamIds: unknown,
): StreamInvocationMessage {
  const id = requireString(invocationId);
  if (id === "") fail();
  const message: StreamInvocationMessage = {
    type: 4,
    invocationId: id,
    target: requireString(target),
    arguments: requireArray(args),
  };
  const h = readHeaders(headers);
  if (h !== undefined) message.headers = h;
  const ids = readStreamIds(streamIds);
  if (ids !== undefined) message.streamIds = ids;
  return message;
}

export function streamItem(headers: unknown, invocationId: unknown, item: unknown): StreamItemMessage {
  readHeaders(headers);
  return { type: 2, invocationId: requireString(invocationId), item: item === undefined ? null : item };
}

export function cancelInvocation(headers: unknown, invocationId: unknown): CancelInvocationMessage {
  readHeaders(headers);
  return { type: 5, invocationId: requireString(invocationId) };
}

export function ping(): PingMessage {
  return { type: 6 };
}

export function close(error: unknown, allowReconnect: unknown): CloseMessage {
  const message: CloseMessage = { type: 7 };
  const e = readOptionalString(error);
  if (e !== undefined) message.error = e;
  if (allowReconnect !== undefined && allowReconnect !== null) {
    if (typeof allowReconnect !== "boolean") fail();
    message.allowReconnect = allowReconnect;
  }
  return message;
}

/** Any safe integer, negative included: an out-of-range Sequence is a stateful-reconnect error (docs/protocol.md §7), not a decode error. */
export function sequenceNumbered(type: 8 | 9, sequenceId: unknown): AckMessage | SequenceMessage {
  if (!Number.isSafeInteger(sequenceId)) fail();
  return { type, sequenceId: sequenceId as number };
}

export function unknownMessage(type: number): UnknownMessage {
  return { type, unknown: true };
}

/** Minimum element count of a known MessagePack message type (docs/protocol.md §4.4). */
export function requireLength(array: readonly unknown[], minimum: number): void {
  if (array.length < minimum) fail();
}
