/**
 * The contracts of `@tidings/contracts` as vitest suites, one per interface: a backend proves it
 * keeps the guarantees by running the suite with a harness of its own.
 */
export { describeBusConformance } from "./bus.js";
export type { BusCluster } from "./bus.js";
export { describeIngestConformance } from "./ingest.js";
export type { IngestFixture, MakeIngestFixture } from "./ingest.js";
export { describeStoreConformance } from "./store.js";
export type { StoreUnderTest } from "./store.js";
