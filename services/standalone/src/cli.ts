import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { connectNatsBus, encodeIngestBody, JetStreamIngestQueue } from "@tidings/bus";
import { subjects, validateEnvelopes } from "@tidings/contracts";

const USAGE = `Usage: tidings publish [audience] [content] [target]

Audience (one):  --global | --user <id> | --tenant <id> | --group <name> [--tenant-id <id>] | --connection <id>
Content:         --type <type> [--body <json>] [--id <id>] [--producer <name>] [--persisted] [--ttl <ISO-8601>]
                 or --file <path>  (one envelope or an array, as JSON)
Target:          --http <url> [--key <producer key>]   (default http://localhost:8080: POST /api/notifications)
                 --nats <url> [--subject tidings.notify.<x>] [--msgpack]   (JetStream, Nats-Msg-Id = id)

Exit code 0 when every notification was accepted (HTTP 202 / JetStream ack), 1 otherwise.`;

class UsageError extends Error {
  override readonly name = "UsageError";
}

const options = {
  global: { type: "boolean" },
  user: { type: "string" },
  tenant: { type: "string" },
  group: { type: "string" },
  "tenant-id": { type: "string" },
  connection: { type: "string" },
  type: { type: "string" },
  body: { type: "string" },
  id: { type: "string" },
  producer: { type: "string", default: "tidings-cli" },
  persisted: { type: "boolean" },
  ttl: { type: "string" },
  file: { type: "string" },
  http: { type: "string" },
  key: { type: "string" },
  nats: { type: "string" },
  subject: { type: "string", default: "tidings.notify.cli" },
  msgpack: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>["values"];

function routingOf(v: Values): { audienceType: number; audienceValue?: string; tenantId?: string } {
  const chosen = [v.global === true ? "global" : null, v.user, v.tenant, v.group, v.connection].filter((x) => x !== null && x !== undefined);
  if (chosen.length !== 1) throw new UsageError("choose exactly one audience: --global, --user, --tenant, --group or --connection");
  const tenantId = v["tenant-id"] === undefined ? {} : { tenantId: v["tenant-id"] };
  if (v.global === true) return { audienceType: 1 };
  if (v.tenant !== undefined) return { audienceType: 2, audienceValue: v.tenant };
  if (v.group !== undefined) return { audienceType: 3, audienceValue: v.group, ...tenantId };
  if (v.user !== undefined) return { audienceType: 4, audienceValue: v.user };
  return { audienceType: 5, audienceValue: v.connection! };
}

/** The envelopes to publish: from --file, or built from the flags. */
function envelopesOf(v: Values): unknown[] {
  if (v.file !== undefined) {
    const parsed: unknown = JSON.parse(readFileSync(v.file, "utf8"));
    return Array.isArray(parsed) ? parsed : [parsed];
  }
  if (v.type === undefined) throw new UsageError("--type is required (or use --file)");
  let body: unknown = null;
  if (v.body !== undefined) {
    try {
      body = JSON.parse(v.body);
    } catch {
      throw new UsageError("--body must be JSON, e.g. --body '{\"amount\":3}'");
    }
  }
  return [
    {
      id: v.id ?? `${v.producer}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
      type: v.type,
      body,
      routing: routingOf(v),
      metadata: { producer: v.producer, ...(v.persisted === true ? { isPersisted: true } : {}), ...(v.ttl === undefined ? {} : { persistedTTL: v.ttl }) },
    },
  ];
}

async function publishHttp(url: string, key: string | undefined, envelopes: unknown[]): Promise<void> {
  const res = await fetch(new URL("/api/notifications", url), {
    method: "POST",
    headers: { "content-type": "application/json", ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
    body: JSON.stringify(envelopes),
  });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`HTTP ${res.status}: ${text}`);
  process.stdout.write(`${text}\n`);
}

async function publishNats(url: string, subject: string, msgpack: boolean, envelopes: unknown[]): Promise<void> {
  const bus = await connectNatsBus(url, { name: "tidings-cli" });
  try {
    const queue = await JetStreamIngestQueue.create(bus.connection);
    for (const envelope of envelopes) {
      const { data, headers } = encodeIngestBody(envelope, msgpack ? "msgpack" : "json");
      const id = (envelope as { id: string }).id;
      const result = await queue.publish(subject, data, { msgId: id, headers });
      process.stdout.write(`${JSON.stringify({ id, seq: result.seq, duplicate: result.duplicate })}\n`);
    }
  } finally {
    await bus.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true });
  if (values.help === true || positionals[0] !== "publish") {
    process.stdout.write(`${USAGE}\n`);
    if (values.help !== true) process.exitCode = 1;
    return;
  }
  const envelopes = envelopesOf(values);
  // Validate here too, so a producer sees every problem before anything is sent.
  const checked = validateEnvelopes(envelopes, { now: new Date(), defaultTtlSeconds: 1800, maxNotificationBytes: 65536 });
  if (!checked.ok) throw new UsageError(checked.problems.map((p) => `envelope ${p.index}: ${p.path || "(root)"}: ${p.message}`).join("\n"));
  if (values.nats !== undefined) {
    if (!values.subject.startsWith("tidings.notify.")) throw new UsageError(`--subject must be under ${subjects.notifyWildcard}`);
    return publishNats(values.nats, values.subject, values.msgpack === true, envelopes);
  }
  return publishHttp(values.http ?? "http://localhost:8080", values.key, envelopes);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`tidings: ${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof UsageError) process.stderr.write(`\n${USAGE}\n`);
  process.exitCode = 1;
});
