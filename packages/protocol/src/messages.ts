/** Ends every JSON record (hub messages and the handshake) on the wire. */
export const RECORD_SEPARATOR = 0x1e;

/** Hub message type numbers (docs/protocol.md §4.4). */
export const MessageType = {
  Invocation: 1,
  StreamItem: 2,
  Completion: 3,
  StreamInvocation: 4,
  CancelInvocation: 5,
  Ping: 6,
  Close: 7,
  Ack: 8,
  Sequence: 9,
} as const;
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType];

/*
 * Decoded client messages. Both protocols produce the same shapes, and every payload value
 * (arguments, item, result) is JSON data: string, finite number, boolean, null, array or plain
 * object, nested at most MAX_NESTING_DEPTH levels. Optional properties are absent, never undefined.
 */

/** `invocationId` is absent when the client expects no reply (JSON absent/null, MessagePack nil, or ""). */
export type InvocationMessage = {
  type: 1;
  headers?: Record<string, string>;
  invocationId?: string;
  target: string;
  arguments: unknown[];
  streamIds?: string[];
};
export type StreamItemMessage = { type: 2; invocationId: string; item: unknown };
export type CompletionMessage = { type: 3; invocationId: string; result?: unknown; error?: string };
/** `invocationId` is always a non-empty string: the server must answer it with a Completion. */
export type StreamInvocationMessage = {
  type: 4;
  headers?: Record<string, string>;
  invocationId: string;
  target: string;
  arguments: unknown[];
  streamIds?: string[];
};
export type CancelInvocationMessage = { type: 5; invocationId: string };
export type PingMessage = { type: 6 };
export type CloseMessage = { type: 7; error?: string; allowReconnect?: boolean };
/** `sequenceId` is a safe integer of any sign; range checks belong to stateful reconnect (docs/protocol.md §7). */
export type AckMessage = { type: 8; sequenceId: number };
export type SequenceMessage = { type: 9; sequenceId: number };
/** Any other integer type; decoded (not rejected) so the server can ignore it (docs/protocol.md §4.5). Test with `"unknown" in message`. */
export type UnknownMessage = { type: number; unknown: true };

export type HubMessage =
  | InvocationMessage
  | StreamItemMessage
  | CompletionMessage
  | StreamInvocationMessage
  | CancelInvocationMessage
  | PingMessage
  | CloseMessage
  | AckMessage
  | SequenceMessage
  | UnknownMessage;

/**
 * What the server sends (docs/protocol.md §4.6). Types 2, 4 and 5 are deliberately not representable.
 * A Completion states its kind explicitly so that "void" and "result undefined/null" cannot be confused.
 */
export type ServerMessage =
  | { type: 1; target: string; arguments: unknown[] }
  | { type: 3; invocationId: string; kind: "void" }
  | { type: 3; invocationId: string; kind: "result"; result: unknown }
  | { type: 3; invocationId: string; kind: "error"; error: string }
  | { type: 6 }
  | { type: 7; error?: string; allowReconnect?: boolean }
  | { type: 8; sequenceId: number }
  | { type: 9; sequenceId: number };

export type ProtocolName = "json" | "messagepack";

/** The Close `error` the server sends for each kind of bad inbound input (docs/protocol.md §6, §11). */
export type DecodeError = "Message too large" | "Invalid JSON" | "Invalid MessagePack" | "Invalid message";

/**
 * On error, `messages` still holds the messages decoded before the bad one, in order; the decoder is
 * then dead and every later push() returns no messages and the same error.
 */
export interface DecodeResult {
  messages: HubMessage[];
  error?: DecodeError;
}

/**
 * Incremental decoder for one connection's inbound byte stream. Buffers partial input across chunks;
 * a chunk may hold many messages. push() never keeps a reference to `chunk` (partial input is copied),
 * so callers may pass buffers that are only valid during a callback.
 */
export interface FrameDecoder {
  push(chunk: Uint8Array): DecodeResult;
  /** Bytes held for an incomplete message; 0 once the decoder is dead. */
  readonly bufferedBytes: number;
}

export interface HubProtocol {
  readonly name: ProtocolName;
  readonly transferFormat: "Text" | "Binary";
  /** true when outbound frames must be WebSocket binary frames */
  readonly binary: boolean;
  /**
   * One complete framed message (JSON record + 0x1E, or varint length prefix + MessagePack array).
   * Payload values are written as JSON data in both protocols (a Date becomes its ISO string, never
   * the MessagePack timestamp extension). Throws for values JSON.stringify cannot write (BigInt, cycles).
   */
  encode(message: ServerMessage): Uint8Array;
  /**
   * Notification = Invocation without invocationId: JSON `{"type":1,"target":…,"arguments":[arg]}␞`,
   * MessagePack `[1,{},nil,target,[arg],[]]`. Same result as encode({type:1,target,arguments:[argument]}),
   * built without intermediate objects because it runs once per notification per protocol.
   */
  encodeNotification(target: string, argument: unknown): Uint8Array;
  /** maxMessageBytes = TIDINGS_MAX_MESSAGE_BYTES: the largest accepted framed message, separator/prefix included. */
  createDecoder(maxMessageBytes: number): FrameDecoder;
}
