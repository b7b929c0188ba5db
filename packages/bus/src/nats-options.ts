import type { JetStreamIngestQueueOptions } from "./jetstream-ingest-queue.js";
import type { NatsSecurity } from "./nats-bus.js";

/** The NATS settings every role reads from its config (the `TIDINGS_NATS_*` and `TIDINGS_JETSTREAM_*` settings; pass the config itself). */
export interface NatsSettings extends NatsSecurity {
  jetstreamReplicas?: number | undefined;
  jetstreamMaxBytes: number;
  jetstreamMaxAgeSeconds: number;
}

/** The connection security and stream settings of a role, so gateway, router and store connect alike. */
export function natsOptionsOf(settings: NatsSettings): { security: NatsSecurity; queue: JetStreamIngestQueueOptions } {
  return {
    security: settings,
    queue: {
      applyStreamConfig: true,
      ...(settings.jetstreamReplicas === undefined ? {} : { replicas: settings.jetstreamReplicas }),
      maxBytes: settings.jetstreamMaxBytes,
      maxAgeMs: settings.jetstreamMaxAgeSeconds * 1000,
    },
  };
}
