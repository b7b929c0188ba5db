export {
  AUDIENCE_KINDS,
  AudienceType,
  GLOBAL_AUDIENCE,
  MAX_AUDIENCE_VALUE_CHARS,
  audienceKey,
  isAudienceType,
  looksLikeSharedAudienceKey,
  parseAudienceRequest,
  tenantAudience,
  userAudience,
} from "./audience.js";
export type { AudienceKind, AudienceRequest, AudienceTypeValue } from "./audience.js";

export {
  MAX_ENVELOPES_PER_BATCH,
  MAX_ID_CHARS,
  MAX_BODY_DEPTH,
  MAX_PRODUCER_CHARS,
  MAX_TYPE_CHARS,
  parseIsoDate,
  validateEnvelope,
  validateEnvelopes,
} from "./envelope.js";
export type {
  EnvelopeBatchOptions,
  EnvelopeBatchResult,
  EnvelopeOptions,
  EnvelopeProblem,
  EnvelopeResult,
  Notification,
  SingleEnvelopeOptions,
} from "./envelope.js";

export { toDelivered } from "./delivered.js";
export type { DeliveredNotification } from "./delivered.js";
export { HubEvents } from "./hub-events.js";
export type { DeletedStatusChangeEvent, HubEventName, ReadStatusChangeEvent } from "./hub-events.js";

export { HubErrorCode, HubMethodError } from "./hub-errors.js";
export type { HubErrorCodeName, HubErrorCodeNumber } from "./hub-errors.js";

export { subjects } from "./subjects.js";

export type {
  AudienceRegistry,
  Bus,
  BusHeaders,
  BusMessage,
  BusSubscribeOptions,
  BusSubscription,
  IngestConsumer,
  IngestMessage,
  IngestPublishResult,
  IngestQueue,
  ListPage,
  ListQuery,
  NotificationStore,
  RegistryApplyResult,
  RegistryDelta,
  RegistryHeartbeat,
  RegistryMessage,
  RegistrySnapshot,
  ReplayQuery,
  SaveOutcome,
  SaveResult,
  StateChange,
  StateChangeResult,
} from "./interfaces.js";
export { isValidNodeId, mintId, ownerOf } from "./connection-id.js";
export { BusNotificationStore, StoreRefusedError, StoreUnavailableError, isPermanentStoreError } from "./store-client.js";
export type { BusNotificationStoreOptions } from "./store-client.js";
export { STORE_OPS, storeCodecs } from "./store-messages.js";
export type { StoreAnswer, StoreArgs, StoreErrorReply, StoreOp, StoreOpCodecs, StoreResults } from "./store-messages.js";

export {
  encodeFramedNodeMessage,
  FRAMED_NODE_MESSAGES,
  inWireOrder,
  hasKeysInOrder,
  NodeMessage,
  notificationCodec,
  userEventCodec,
} from "./node-messages.js";
export type { Codec, UserEvent } from "./node-messages.js";

export { MemoryNotificationStore } from "./memory-store.js";
export { storeArguments } from "./store-arguments.js";
export type { ListCursor } from "./store-arguments.js";
export type { MemoryNotificationStoreOptions } from "./memory-store.js";

/** UTF-8 bytes of a string, small ones written into a shared slab (views never mutated); the plain-string test of the frame writers. */
export { isPlainJsonString, utf8 } from "./json-wire.js";
