import { notificationCodec, subjects, type IngestPublishResult, type IngestQueue, type Notification } from "@tidings/contracts";
import { partitionOf } from "./shard/shard-map.js";

/** Publishes validated notifications durably; resolves once every one is stored (or was already). */
export type IngestPublisher = (
  notifications: readonly Notification[],
  headers?: Readonly<Record<string, string>>,
) => Promise<IngestPublishResult[]>;

/** Where HTTP ingest publishes: `tidings.notify.http`. */
export const HTTP_INGEST_SUBJECT = subjects.notify("http");

/** Header of a partitioned ingest message: the producer subject it stands for. */
export const INGEST_SUBJECT_HEADER = "Tidings-Subject";

/**
 * The JetStream de-duplication id of a notification published by Tidings itself:
 * `["<audienceId>","<id>"]`. docs/contract.md §5 de-duplicates by (audience, id), and one HTTP batch may
 * legitimately send the same id to two audiences, so the id alone would make JetStream drop the
 * second as a duplicate. The JSON array keeps the pair unambiguous whatever characters either holds.
 */
export function ingestMsgId(n: Notification): string {
  return JSON.stringify([n.routing.audienceId, n.id]);
}

/**
 * HTTP ingest in cluster mode: each notification (already validated and normalised, so the time of
 * acceptance travels in `metadata.timeStamp`) is published as JSON to `tidings.notify.http`. The
 * promise resolves only after JetStream acknowledged every one, so answering 202 then means
 * "durably accepted"; it rejects when any could not be stored, and the producer retries with the
 * same ids (duplicates are then reported, not stored twice).
 */
export function createIngestPublisher(queue: IngestQueue, subject: string = HTTP_INGEST_SUBJECT): IngestPublisher {
  const inTurn = perTurn();
  return (notifications, headers) =>
    inTurn(() =>
      Promise.all(
        notifications.map((n) =>
          queue.publish(subject, notificationCodec.encode(n), { msgId: ingestMsgId(n), ...(headers === undefined ? {} : { headers }) }),
        ),
      ),
    );
}

/**
 * HTTP ingest with a partitioned registry (`TIDINGS_REGISTRY_PARTITIONS` above 1): each notification
 * goes straight to the partition of its audience on `tidings.v1.part.<p>` (stream `TIDINGS_PARTS`),
 * skipping the partitioning step, with the same id the partitioning step would give it and header
 * `Tidings-Subject: tidings.notify.http`.
 */
export function createPartitionedIngestPublisher(queue: IngestQueue, partitions: number): IngestPublisher {
  const inTurn = perTurn();
  return (notifications, headers) =>
    inTurn(() =>
      Promise.all(
        notifications.map((n) =>
          queue.publish(subjects.partition(partitionOf(n.routing.audienceId, partitions)), notificationCodec.encode(n), {
            msgId: ingestMsgId(n),
            headers: { ...headers, [INGEST_SUBJECT_HEADER]: HTTP_INGEST_SUBJECT },
          }),
        ),
      ),
    );
}

/**
 * Starts the tasks handed to it during one event-loop turn together, in order, right after the turn's
 * I/O (setImmediate). Each HTTP request is its own callback, after which the NATS client writes what
 * that callback published: one socket write per request. Started together, the publishes of every
 * request of the turn leave in one write. Order between calls is kept.
 */
function perTurn(): <T>(task: () => Promise<T>) => Promise<T> {
  let batch: Array<() => void> | null = null;
  const runBatch = () => {
    const tasks = batch ?? [];
    batch = null;
    for (const start of tasks) start();
  };
  return <T>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      if (batch === null) {
        batch = [];
        setImmediate(runBatch);
      }
      // The executor turns a synchronous throw of `task` into a rejection.
      batch.push(() => void new Promise<T>((started) => started(task())).then(resolve, reject));
    });
}
