import { createHash } from "node:crypto";
import { INGEST_SUBJECT_HEADER, decodeIngestBody, headerValue, ingestMsgId, partitionOf } from "@tidings/bus";
import { subjects, validateEnvelope, type IngestMessage, type IngestQueue } from "@tidings/contracts";
import { KeyedSerial } from "./keyed-serial.js";

/** Redelivery delay of a message whose partition copy could not be stored. */
const RETRY_MS = 250;

export interface PartitionerOptions {
  /** Where partitioned messages go (stream `TIDINGS_PARTS`). */
  target: IngestQueue;
  partitions: number;
  defaultTtlSeconds: number;
  maxNotificationBytes: number;
}

/** Where one producer message goes: its partition and its de-duplication id there. */
export interface PartitionTarget {
  partition: number;
  msgId: string;
  /** Messages with the same key are republished in the order they were handled. */
  orderKey: string;
}

/**
 * Where a producer message belongs. A valid envelope goes to the partition of its audience key, under
 * the id `["<audienceId>","<id>"]` (the pair the store and the gateways de-duplicate by), so a
 * redelivered message is stored once. A message that does not validate still goes on, to the
 * partition of its own id, for its router to dead-letter it with the reason.
 */
export function partitionTarget(msg: IngestMessage, opts: Omit<PartitionerOptions, "target">): PartitionTarget {
  const decoded = decodeIngestBody(msg.data, msg.headers);
  if (decoded.ok) {
    const result = validateEnvelope(decoded.value, {
      now: new Date(),
      defaultTtlSeconds: opts.defaultTtlSeconds,
      maxNotificationBytes: opts.maxNotificationBytes,
      byteLength: msg.data.length,
    });
    if (result.ok) {
      const audienceId = result.notification.routing.audienceId;
      return { partition: partitionOf(audienceId, opts.partitions), msgId: ingestMsgId(result.notification), orderKey: audienceId };
    }
  }
  const msgId =
    headerValue(msg.headers, "Nats-Msg-Id") ??
    "raw:" + createHash("sha256").update(msg.subject).update("\n").update(msg.data).digest("base64url");
  return { partition: partitionOf(msgId, opts.partitions), msgId, orderKey: msgId };
}

/**
 * The partitioning step of ingest: each message of stream `TIDINGS` (`tidings.notify.>`, the producer
 * contract) is republished unchanged to `tidings.v1.part.<p>` with header `Tidings-Subject` naming the
 * producer's subject, and the original is acked only after the partition stream stored the copy. A
 * crash in between redelivers the original, and the copy's id makes the second store a duplicate.
 * Messages of one audience are republished in the order they were fetched.
 */
export function createPartitioner(opts: PartitionerOptions): (msg: IngestMessage) => Promise<void> {
  const serial = new KeyedSerial();
  return async (msg) => {
    const target = partitionTarget(msg, opts);
    const headers: Record<string, string> = { [INGEST_SUBJECT_HEADER]: msg.subject };
    for (const [name, value] of Object.entries(msg.headers ?? {})) {
      // JetStream's own headers (the id among them) are set anew by the partition stream.
      if (!name.toLowerCase().startsWith("nats-")) headers[name] = value;
    }
    try {
      await serial.run(target.orderKey, () =>
        opts.target.publish(subjects.partition(target.partition), msg.data, { msgId: target.msgId, headers }),
      );
    } catch {
      // Not stored (the partition stream is electing a leader, or away): redelivered after a pause, not at once.
      msg.nak(RETRY_MS);
      return;
    }
    await msg.ack();
  };
}
