export { RECORD_SEPARATOR, MessageType } from "./messages.js";
export type {
  MessageTypeValue,
  InvocationMessage,
  StreamItemMessage,
  CompletionMessage,
  StreamInvocationMessage,
  CancelInvocationMessage,
  PingMessage,
  CloseMessage,
  AckMessage,
  SequenceMessage,
  UnknownMessage,
  HubMessage,
  ServerMessage,
  ProtocolName,
  DecodeError,
  DecodeResult,
  FrameDecoder,
  HubProtocol,
} from "./messages.js";
export { jsonProtocol, PING_JSON } from "./json-protocol.js";
export { messagePackProtocol, PING_MSGPACK } from "./messagepack-protocol.js";
export { getProtocol } from "./protocols.js";
export { HANDSHAKE_OK, createHandshakeParser, encodeHandshakeError } from "./handshake.js";
export type { HandshakeOutcome } from "./handshake.js";
export { HandshakeErrors, HubErrors, HubErrorDetails } from "./errors.js";
export { parseNegotiateQuery, encodeNegotiateResponse, encodeNegotiateError } from "./negotiate.js";
export type { NegotiateRequest, TransportName } from "./negotiate.js";
export { MAX_NESTING_DEPTH } from "./plain-data.js";
