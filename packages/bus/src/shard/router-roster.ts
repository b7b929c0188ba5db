import { subjects, type Bus, type BusSubscription } from "@tidings/contracts";
import { MISSED_HEARTBEATS, REGISTRY_HEARTBEAT_MS, silentRegistryLogger, type RegistryLogger } from "../registry/log.js";
import { encodeJson } from "../registry/wire.js";
import { ShardMap } from "./shard-map.js";

/** What the roster knows of one router. */
export interface RouterInfo {
  readonly routerId: string;
  /** True once the router has loaded the partitions it owns in the map that includes it. */
  readonly ready: boolean;
  /** Partitions whose ingest the router consumes right now. */
  readonly serving: readonly number[];
  readonly lastSeenMs: number;
}

/** Messages on `tidings.v1.routers`. */
type RosterMessage =
  | { kind: "router"; routerId: string; partitions: number; ready: boolean; serving: number[] }
  | { kind: "router-leave"; routerId: string }
  | { kind: "roster-probe" };

export interface RouterRosterOptions {
  bus: Bus;
  /** Registry partitions (TIDINGS_REGISTRY_PARTITIONS); routers announcing another count are ignored. */
  partitions: number;
  /** This router; absent for a process that only watches the map (a gateway, a tool). */
  self?: { routerId: string };
  /** Heartbeat interval (default 5000 ms, the registry's). */
  heartbeatIntervalMs?: number;
  /** Heartbeats a router may miss before it counts as dead (default 3). */
  missedHeartbeats?: number;
  /** Told after every change of a router's presence, readiness or served partitions. */
  onChange?: () => void;
  now?: () => number;
  log?: RegistryLogger;
}

const decoder = new TextDecoder();

/**
 * The live routers, as every router announces itself on `tidings.v1.routers`: a heartbeat every
 * interval (id, readiness, served partitions), an immediate one when something changes or another
 * process probes, and a leave message on a clean stop. A router missing `missedHeartbeats`
 * heartbeats is dead. `map()` is the shard map over the ready routers, so every process that heard
 * the same heartbeats computes the same owners.
 */
export class RouterRoster {
  readonly partitions: number;
  readonly #bus: Bus;
  readonly #self: string | null;
  readonly #heartbeatIntervalMs: number;
  readonly #maxSilenceMs: number;
  readonly #onChange: () => void;
  readonly #now: () => number;
  readonly #log: RegistryLogger;
  readonly #routers = new Map<string, RouterInfo>();
  #ready = false;
  #serving: number[] = [];
  #sub: BusSubscription | null = null;
  #timer: NodeJS.Timeout | null = null;
  #map: ShardMap | null = null;

  constructor(opts: RouterRosterOptions) {
    this.partitions = opts.partitions;
    this.#bus = opts.bus;
    this.#self = opts.self?.routerId ?? null;
    this.#heartbeatIntervalMs = opts.heartbeatIntervalMs ?? REGISTRY_HEARTBEAT_MS;
    this.#maxSilenceMs = this.#heartbeatIntervalMs * (opts.missedHeartbeats ?? MISSED_HEARTBEATS);
    this.#onChange = opts.onChange ?? (() => undefined);
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? silentRegistryLogger;
  }

  /** Subscribes, announces this router (not ready yet) and probes for the others; resolves once the subscription is active. */
  async start(): Promise<void> {
    if (this.#sub !== null) return;
    this.#sub = this.#bus.subscribe(subjects.routers, (m) => this.#onMessage(m.data));
    await this.#bus.flush();
    this.#announce();
    this.#send({ kind: "roster-probe" });
    this.#timer = setInterval(() => {
      this.#announce();
      this.sweep();
    }, this.#heartbeatIntervalMs);
    this.#timer.unref();
  }

  /** Says this router leaves (others re-own its partitions at once) and stops listening. */
  async stop(): Promise<void> {
    if (this.#sub === null) return;
    if (this.#self !== null) this.#send({ kind: "router-leave", routerId: this.#self });
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#sub.unsubscribe();
    this.#sub = null;
    await this.#bus.flush().catch(() => undefined);
  }

  /** Updates and announces this router's readiness and served partitions (`onChange` is for the other routers' changes). */
  setState(ready: boolean, serving: Iterable<number>): void {
    this.#ready = ready;
    this.#serving = [...serving].sort((a, b) => a - b);
    this.#map = null;
    this.#announce();
  }

  /** Routers heard from (this one included), by id. */
  routers(): ReadonlyMap<string, RouterInfo> {
    return this.#routers;
  }

  /** The shard map over the ready routers; with `including`, as if that router were ready too. */
  map(including?: string): ShardMap {
    if (including === undefined && this.#map !== null) return this.#map;
    const ids: string[] = [];
    for (const r of this.#routers.values()) if (r.ready || r.routerId === including) ids.push(r.routerId);
    const map = new ShardMap(this.partitions, ids);
    if (including === undefined) this.#map = map;
    return map;
  }

  /** Routers other than this one that say they consume `partition`. */
  servedElsewhere(partition: number): string[] {
    const by: string[] = [];
    for (const r of this.#routers.values()) if (r.routerId !== this.#self && r.serving.includes(partition)) by.push(r.routerId);
    return by;
  }

  /** Forgets routers silent for too long; returns their ids. */
  sweep(): string[] {
    const oldest = this.#now() - this.#maxSilenceMs;
    const dead: string[] = [];
    for (const [id, r] of this.#routers) if (id !== this.#self && r.lastSeenMs < oldest) dead.push(id);
    for (const id of dead) {
      this.#routers.delete(id);
      this.#log.info({ routerId: id }, "router roster dropped a silent router");
    }
    if (dead.length > 0) this.#changed();
    return dead;
  }

  #announce(): void {
    if (this.#self === null || this.#sub === null) return;
    const info: RouterInfo = { routerId: this.#self, ready: this.#ready, serving: this.#serving, lastSeenMs: this.#now() };
    this.#routers.set(this.#self, info);
    this.#send({ kind: "router", routerId: this.#self, partitions: this.partitions, ready: this.#ready, serving: this.#serving });
  }

  #send(message: RosterMessage): void {
    try {
      this.#bus.publish(subjects.routers, encodeJson(message));
    } catch (error) {
      // The next heartbeat repeats the state.
      this.#log.warn({ err: error }, "router roster message not published");
    }
  }

  #onMessage(data: Uint8Array): void {
    const m = decode(data);
    if (m === null) return;
    if (m.kind === "roster-probe") {
      this.#announce();
      return;
    }
    if (m.routerId === this.#self) return;
    if (m.kind === "router-leave") {
      if (this.#routers.delete(m.routerId)) this.#changed();
      return;
    }
    if (m.partitions !== this.partitions) {
      this.#log.warn(
        { routerId: m.routerId, partitions: m.partitions, expected: this.partitions },
        "router roster ignored a router with another partition count",
      );
      return;
    }
    const before = this.#routers.get(m.routerId);
    this.#routers.set(m.routerId, { routerId: m.routerId, ready: m.ready, serving: m.serving, lastSeenMs: this.#now() });
    if (before === undefined) {
      // A newcomer learns this router at once instead of after a heartbeat interval.
      this.#announce();
      this.#changed();
    } else if (before.ready !== m.ready || !sameList(before.serving, m.serving)) {
      this.#changed();
    }
  }

  #changed(): void {
    this.#map = null;
    this.#onChange();
  }
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function decode(data: Uint8Array): RosterMessage | null {
  let m: unknown;
  try {
    m = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  if (typeof m !== "object" || m === null) return null;
  const r = m as Record<string, unknown>;
  if (r["kind"] === "roster-probe") return { kind: "roster-probe" };
  if (typeof r["routerId"] !== "string" || r["routerId"] === "") return null;
  if (r["kind"] === "router-leave") return { kind: "router-leave", routerId: r["routerId"] };
  const serving = r["serving"];
  if (r["kind"] !== "router" || typeof r["ready"] !== "boolean" || !Number.isSafeInteger(r["partitions"])) return null;
  if (!Array.isArray(serving) || !serving.every((p) => Number.isSafeInteger(p) && (p as number) >= 0)) return null;
  return {
    kind: "router",
    routerId: r["routerId"],
    partitions: r["partitions"] as number,
    ready: r["ready"],
    serving: (serving as number[]).slice().sort((a, b) => a - b),
  };
}
