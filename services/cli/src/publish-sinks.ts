import { encodeIngestBody, JetStreamIngestQueue, connectNatsBus } from "@tidings/bus";
import { Failure, UsageError, causeOf, unreachable } from "./errors.js";

/** Where a sink reports: each answer goes to `stdout`; `key` is the producer key for HTTP. */
export interface SinkIo {
  stdout: NodeJS.WritableStream;
  key: string | undefined;
}

/** Sends batches somewhere and reports each answer on stdout. */
export interface Sink {
  readonly target: string;
  send(batch: unknown[]): Promise<void>;
  close(): Promise<void>;
}

/** POST /api/notifications, one array per batch (JSON or MessagePack); prints each `202` answer as one JSON line. */
export function httpSink(base: string, msgpack: boolean, io: SinkIo): Sink {
  let endpoint: string;
  try {
    endpoint = new URL("/api/notifications", base).href;
  } catch {
    throw new UsageError(`--http ${base} is not a URL`);
  }
  return {
    target: endpoint,
    async send(batch) {
      const { data, headers } = encodeIngestBody(batch, msgpack ? "msgpack" : "json");
      let res: Response;
      try {
        res = await fetch(endpoint, {
          method: "POST",
          headers: { ...headers, ...(io.key === undefined ? {} : { authorization: `Bearer ${io.key}` }) },
          body: data,
        });
      } catch (err) {
        throw unreachable(endpoint, err);
      }
      const text = await res.text();
      if (res.status !== 202) throw new Failure(`POST ${endpoint} answered ${res.status}: ${text.trim()}`);
      io.stdout.write(`${text.trim()}\n`);
    },
    async close() {},
  };
}

/** JetStream publish with Nats-Msg-Id = id, so a retried publish is dropped as a duplicate; one JSON line per envelope. */
export async function natsSink(url: string, subject: string, msgpack: boolean, io: SinkIo): Promise<Sink> {
  let bus: Awaited<ReturnType<typeof connectNatsBus>>;
  let queue: JetStreamIngestQueue;
  try {
    bus = await connectNatsBus(url, { name: "tidings-cli" });
  } catch (err) {
    throw unreachable(url, err);
  }
  try {
    queue = await JetStreamIngestQueue.create(bus.connection);
  } catch (err) {
    await bus.close();
    throw new Failure(`JetStream at ${url}: ${causeOf(err)}`);
  }
  return {
    target: `${url} (${subject})`,
    async send(batch) {
      const results = await Promise.all(
        batch.map(async (envelope) => {
          const { data, headers } = encodeIngestBody(envelope, msgpack ? "msgpack" : "json");
          const id = (envelope as { id: string }).id;
          try {
            const r = await queue.publish(subject, data, { msgId: id, headers });
            return { id, seq: r.seq, duplicate: r.duplicate };
          } catch (err) {
            throw new Failure(`publish to ${subject} at ${url}: ${causeOf(err)}`);
          }
        }),
      );
      io.stdout.write(results.map((r) => JSON.stringify(r)).join("\n") + "\n");
    },
    async close() {
      await bus.close();
    },
  };
}
