/*
 * `tidings publish`: the envelopes the flags or a file describe, validated, in batches under the
 * ingest limits, handed to a sink (publish-sinks.ts: HTTP ingest or JetStream).
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { AudienceType, MAX_ENVELOPES_PER_BATCH, subjects, validateEnvelope, type EnvelopeProblem } from "@tidings/contracts";
import { Failure, UsageError, causeOf } from "./errors.js";
import { Progress } from "./progress.js";
import { httpSink, natsSink } from "./publish-sinks.js";

/** Under the gateway's 4 MiB body limit, leaving room for the array's brackets and commas. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024;
/** Problems listed before the rest are summarised. */
const MAX_PROBLEMS_SHOWN = 20;

export interface PublishOptions {
  global?: boolean;
  user?: string;
  tenant?: string;
  group?: string;
  tenantId?: string;
  connection?: string;
  type?: string;
  body?: string;
  id?: string;
  producer: string;
  persisted?: boolean;
  ttl?: string;
  file?: string;
  http?: string;
  nats?: string;
  subject: string;
  msgpack?: boolean;
  batchSize: number;
  maxBytes: number;
  progress: boolean;
}

export interface PublishIo {
  stdin: Readable;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  key: string | undefined;
}

export async function publish(opts: PublishOptions, io: PublishIo): Promise<void> {
  if (opts.batchSize < 1 || opts.batchSize > MAX_ENVELOPES_PER_BATCH)
    throw new UsageError(`--batch-size must be from 1 to ${MAX_ENVELOPES_PER_BATCH}`);
  if (opts.http !== undefined && opts.nats !== undefined) throw new UsageError("choose one target: --http or --nats");
  if (opts.nats !== undefined && !opts.subject.startsWith("tidings.notify."))
    throw new UsageError(`--subject must be under ${subjects.notifyWildcard}`);
  const fromFlags = opts.file === undefined;
  if (fromFlags && opts.type === undefined) throw new UsageError("--type is required (or use --file <path>, or --file - for stdin)");
  if (!fromFlags && (opts.type !== undefined || audienceFlags(opts).length > 0))
    throw new UsageError("--file replaces the envelope flags; use one or the other");

  const source = (): AsyncIterable<unknown> =>
    fromFlags ? single(envelopeOf(opts)) : readEnvelopes(opts.file === "-" ? io.stdin : openFile(opts.file!), opts.file!);
  // A file is read twice: every envelope is validated before the first is sent. Stdin can be read once
  // only, so each batch is validated just before it is sent.
  let total: number | undefined;
  if (opts.file !== "-") total = await validateAll(source(), opts.maxBytes);

  const sink =
    opts.nats === undefined
      ? httpSink(opts.http ?? "http://localhost:8080", opts.msgpack === true, io)
      : await natsSink(opts.nats, opts.subject, opts.msgpack === true, io);
  const progress = new Progress(io.stderr, opts.progress, total);
  let sent = 0;
  try {
    let batch: unknown[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      if (total === undefined) throwIfInvalid(batch, sent, opts.maxBytes);
      try {
        await sink.send(batch);
      } catch (err) {
        progress.done();
        const already = sent === 0 ? "nothing was accepted" : `the first ${sent} were accepted`;
        throw err instanceof Failure ? new Failure(`${err.message} (${already})`) : err;
      }
      sent += batch.length;
      progress.update(sent);
      batch = [];
      bytes = 0;
    };
    for await (const envelope of source()) {
      const size = jsonBytes(envelope);
      if (batch.length >= opts.batchSize || (batch.length > 0 && bytes + size > MAX_BATCH_BYTES)) await flush();
      batch.push(envelope);
      bytes += size + 1;
    }
    await flush();
    progress.done();
    if (opts.progress) io.stderr.write(`tidings: published ${sent} notification${sent === 1 ? "" : "s"} to ${sink.target}\n`);
  } finally {
    await sink.close();
  }
}

function audienceFlags(o: PublishOptions): string[] {
  const set = (name: string, v: unknown) => (v === undefined || v === false ? [] : [name]);
  return [
    ...set("--global", o.global),
    ...set("--user", o.user),
    ...set("--tenant", o.tenant),
    ...set("--group", o.group),
    ...set("--connection", o.connection),
  ];
}

/** The one envelope the flags describe. */
function envelopeOf(o: PublishOptions): unknown {
  const chosen = audienceFlags(o);
  if (chosen.length !== 1) throw new UsageError("choose exactly one audience: --global, --user, --tenant, --group or --connection");
  if (o.tenantId !== undefined && o.group === undefined) throw new UsageError("--tenant-id scopes a --group only");
  let body: unknown = null;
  if (o.body !== undefined) {
    try {
      body = JSON.parse(o.body);
    } catch {
      throw new UsageError(`--body must be JSON, e.g. --body '{"amount":3}'`);
    }
  }
  const routing =
    o.global === true
      ? { audienceType: AudienceType.Global }
      : o.tenant !== undefined
        ? { audienceType: AudienceType.Tenant, audienceValue: o.tenant }
        : o.group !== undefined
          ? { audienceType: AudienceType.Group, audienceValue: o.group, ...(o.tenantId === undefined ? {} : { tenantId: o.tenantId }) }
          : o.user !== undefined
            ? { audienceType: AudienceType.User, audienceValue: o.user }
            : { audienceType: AudienceType.Connection, audienceValue: o.connection! };
  return {
    id: o.id ?? `${o.producer}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
    type: o.type,
    body,
    routing,
    metadata: {
      producer: o.producer,
      ...(o.persisted === true ? { isPersisted: true } : {}),
      ...(o.ttl === undefined ? {} : { persistedTTL: o.ttl }),
    },
  };
}

async function* single(envelope: unknown): AsyncGenerator<unknown> {
  yield envelope;
}

function openFile(path: string): Readable {
  const stream = createReadStream(path);
  // Surfaces as the first read's rejection; named as a usage problem, since the path came from the command line.
  stream.on("error", () => undefined);
  return stream;
}

/**
 * Envelopes from a JSON document (one envelope or an array; held in memory) or from NDJSON, one
 * envelope per line, streamed so a file of any size is read in constant memory. A source whose first
 * non-blank line is not a complete JSON value, or starts with `[`, is read as one JSON document.
 */
async function* readEnvelopes(input: Readable, name: string): AsyncGenerator<unknown> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let document: string[] | null = null;
  let lineNo = 0;
  let first = true;
  try {
    for await (const line of lines) {
      lineNo++;
      if (document !== null) {
        document.push(line);
        continue;
      }
      const text = line.trim();
      if (text === "") continue;
      if (first) {
        first = false;
        const parsed = text.startsWith("[") ? undefined : tryParse(text);
        if (parsed === undefined) {
          document = [line];
          continue;
        }
        yield parsed.value;
        continue;
      }
      const parsed = tryParse(text);
      if (parsed === undefined) throw new UsageError(`${name}, line ${lineNo}: not a JSON envelope (NDJSON takes one envelope per line)`);
      yield parsed.value;
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${name}: ${causeOf(err)}`);
  }
  if (document === null) return;
  const parsed = tryParse(document.join("\n"));
  if (parsed === undefined) throw new UsageError(`${name} is neither a JSON envelope, a JSON array of envelopes, nor NDJSON`);
  if (Array.isArray(parsed.value)) yield* parsed.value;
  else yield parsed.value;
}

function tryParse(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

function jsonBytes(v: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(v) ?? "", "utf8");
  } catch {
    return 0;
  }
}

const validation = (maxBytes: number) => ({ now: new Date(), defaultTtlSeconds: 1800, maxNotificationBytes: maxBytes });

/** Validates every envelope of a source; throws a Failure listing the problems. Returns the count. */
async function validateAll(source: AsyncIterable<unknown>, maxBytes: number): Promise<number> {
  const problems: EnvelopeProblem[] = [];
  let index = 0;
  for await (const envelope of source) {
    const r = validateEnvelope(envelope, validation(maxBytes));
    if (!r.ok) problems.push(...r.problems.map((p) => ({ ...p, index })));
    index++;
  }
  if (problems.length > 0) throw refused(problems, "nothing was sent");
  return index;
}

function throwIfInvalid(batch: unknown[], offset: number, maxBytes: number): void {
  const problems: EnvelopeProblem[] = [];
  batch.forEach((envelope, i) => {
    const r = validateEnvelope(envelope, validation(maxBytes));
    if (!r.ok) problems.push(...r.problems.map((p) => ({ ...p, index: offset + i })));
  });
  if (problems.length > 0) throw refused(problems, offset === 0 ? "nothing was sent" : `the first ${offset} were accepted`);
}

function refused(problems: EnvelopeProblem[], what: string): Failure {
  const lines = problems.slice(0, MAX_PROBLEMS_SHOWN).map((p) => `  envelope ${p.index}: ${p.path || "(envelope)"}: ${p.message}`);
  if (problems.length > MAX_PROBLEMS_SHOWN) lines.push(`  … and ${problems.length - MAX_PROBLEMS_SHOWN} more`);
  return new Failure(`invalid envelopes, ${what}:\n${lines.join("\n")}`);
}
