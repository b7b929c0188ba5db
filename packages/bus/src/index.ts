export { BusClosedError, NoRespondersError, TimeoutError, errors } from "./errors.js";
export { MemoryBus } from "./memory-bus.js";
export type { BusErrorHandler } from "./handler-runs.js";
export type { MemoryBusOptions } from "./memory-bus.js";
export { NATS_DEAD_CONNECTION_DETECTION_MS, NatsBus, connectNatsBus, natsSecurityOptions } from "./nats-bus.js";
export type { ConnectNatsBusOptions, NatsBusOptions, NatsSecurity } from "./nats-bus.js";
export { headerValue, toNatsHeaders } from "./headers.js";
export type { IngestBacklog } from "./ingest-backlog.js";
export { MemoryIngestQueue } from "./memory-ingest-queue.js";
export type { MemoryIngestQueueOptions } from "./memory-ingest-queue.js";
export { JetStreamIngestQueue, ROUTER_CONSUMER } from "./jetstream-ingest-queue.js";
export type { IngestStreamSettings, JetStreamIngestQueueOptions } from "./jetstream-ingest-queue.js";
export { DigestAccumulator, registryDigest } from "./registry/digest.js";
export { MISSED_HEARTBEATS, REGISTRY_HEARTBEAT_MS, silentRegistryLogger } from "./registry/log.js";
export type { RegistryLogger } from "./registry/log.js";
export { RegistryAnnouncer } from "./registry/registry-announcer.js";
export type { RegistryAnnouncerOptions } from "./registry/registry-announcer.js";
export { MemoryAudienceRegistry } from "./registry/memory-audience-registry.js";
export type { MemoryAudienceRegistryOptions } from "./registry/memory-audience-registry.js";
export { RegistryTracker } from "./registry/registry-tracker.js";
export type { RegistryTrackerOptions } from "./registry/registry-tracker.js";
export {
  MAX_INGEST_NESTING,
  MSGPACK_CONTENT_TYPE,
  decodeIngestBody,
  encodeIngestBody,
  ingestFormat,
  nestedTooDeep,
} from "./ingest-codec.js";
export type { IngestDecodeResult, IngestFormat } from "./ingest-codec.js";
export {
  createIngestPublisher,
  createPartitionedIngestPublisher,
  HTTP_INGEST_SUBJECT,
  INGEST_SUBJECT_HEADER,
  ingestMsgId,
} from "./ingest-publisher.js";
export type { IngestPublisher } from "./ingest-publisher.js";
export { natsOptionsOf } from "./nats-options.js";
export type { NatsSettings } from "./nats-options.js";
export { ShardMap, hash32, partitionOf, rendezvousOwner } from "./shard/shard-map.js";
export { RouterRoster } from "./shard/router-roster.js";
export type { RouterInfo, RouterRosterOptions } from "./shard/router-roster.js";
export { ShardedAudienceRegistry } from "./shard/sharded-audience-registry.js";
export type { ShardedAudienceRegistryOptions } from "./shard/sharded-audience-registry.js";
