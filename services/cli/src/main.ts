#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { TRANSPORTS, type Transport } from "./connect.js";
import { doctor } from "./doctor.js";
import { Failure, UsageError } from "./errors.js";
import { producerKey } from "./key.js";
import { publish, type PublishOptions } from "./publish.js";
import { tail } from "./tail.js";
import { mintDevToken } from "./token.js";

/** Exit codes: 0 done, 1 the work failed, 2 the command line is wrong. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

// package.json sits one level above both src/ (tsx) and dist/ (the published bundle).
const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

function collectList(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const urlOption = (what: string) => new Option("--url <url>", what).env("TIDINGS_URL").default("http://localhost:8080");
const userOptions = (c: Command) =>
  c
    .option("--token-file <path>", "a user JWT in a file (else TIDINGS_TOKEN)")
    .option("--user <id>", "mint a development token for this user with TIDINGS_AUTH_JWT_SECRET")
    .option("--tenant <id>", "a tenant of the minted token (repeatable)", collectList, [] as string[]);

export function program(env: NodeJS.ProcessEnv): Command {
  const root = new Command("tidings")
    .description("Publish notifications to Tidings, mint development tokens, watch what a user receives, check a deployment.")
    .version(version, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();

  root
    .command("publish")
    .description(
      "Publish notifications over HTTP (POST /api/notifications) or to JetStream. The envelope comes from the flags, " +
        "or from --file: one JSON envelope, a JSON array, or NDJSON (one envelope per line, streamed); any number is sent in batches.",
    )
    .option("--global", "audience: everyone")
    .option("--user <id>", "audience: one user")
    .option("--tenant <id>", "audience: one tenant")
    .option("--group <name>", "audience: a group")
    .option("--tenant-id <id>", "scope --group to a tenant")
    .option("--connection <id>", "audience: one connection")
    .option("--type <type>", "notification type (the client's handler name)")
    .option("--body <json>", "notification body, JSON")
    .option("--id <id>", "notification id (the de-duplication key; default: generated)")
    .option("--producer <name>", "metadata.producer", "tidings-cli")
    .option("--persisted", "store it for replay")
    .option("--ttl <iso-8601>", "absolute expiry of a persisted notification")
    .option("--file <path>", "read envelopes from a file, or - for stdin")
    .option("--http <url>", "gateway base URL (default http://localhost:8080)")
    .option("--key-file <path>", "producer key in a file (else TIDINGS_INGEST_KEY); sent as Authorization: Bearer")
    .option("--nats <url>", "publish to JetStream at this NATS URL instead of HTTP")
    .option("--subject <subject>", "JetStream subject under tidings.notify.>", "tidings.notify.cli")
    .option("--msgpack", "send MessagePack instead of JSON")
    .option("--batch-size <n>", "envelopes per batch, at most 1000", positiveInt("--batch-size"), 500)
    .option(
      "--max-bytes <n>",
      "largest envelope accepted before sending (TIDINGS_MAX_NOTIFICATION_BYTES)",
      positiveInt("--max-bytes"),
      65536,
    )
    .option("--no-progress", "no progress on stderr")
    .addHelpText("after", "\nExit status: 0 all accepted (HTTP 202 / JetStream ack), 1 refused or unreachable, 2 usage error.")
    .action(async (o: PublishOptions & { keyFile?: string }) => {
      const key = producerKey(o.keyFile, env);
      await publish(o, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, key });
    });

  root
    .command("token")
    .description("Mint a development JWT (HS256, signed with TIDINGS_AUTH_JWT_SECRET) and print it alone on stdout.")
    .requiredOption("--user <id>", "user id (claim TIDINGS_AUTH_USER_CLAIM, default sub)")
    .option(
      "--tenant <id>",
      "a tenant the user may subscribe to (repeatable; claim TIDINGS_AUTH_TENANT_CLAIM, default tenant_id)",
      collectList,
      [] as string[],
    )
    .option("--expires <seconds>", "lifetime", positiveInt("--expires"), 3600)
    .option("--secret-file <path>", "the HS256 secret in a file, instead of TIDINGS_AUTH_JWT_SECRET")
    .action(async (o: { user: string; tenant: string[]; expires: number; secretFile?: string }) => {
      process.stdout.write(`${await mintDevToken(o, env)}\n`);
    });

  userOptions(
    root
      .command("tail")
      .description("Connect as a user with the stock SignalR client and print every notification that arrives, the replay first.")
      .addOption(urlOption("gateway base URL"))
      .addOption(new Option("--transport <transport>", "SignalR transport").choices(TRANSPORTS).default("WebSockets"))
      .option("--msgpack", "MessagePack hub protocol")
      .option("--json", "one JSON notification per line")
      .option("--count <n>", "exit after n notifications", positiveInt("--count")),
  ).action(
    async (o: {
      url: string;
      transport: Transport;
      msgpack?: boolean;
      json?: boolean;
      count?: number;
      tokenFile?: string;
      user?: string;
      tenant: string[];
    }) => {
      await tail({ ...o, msgpack: o.msgpack === true, json: o.json === true }, env, process.stdout, process.stderr);
    },
  );

  userOptions(
    root
      .command("doctor")
      .description("Check a deployment: readiness, negotiate, WebSocket, SSE, store, NATS stream and clock skew.")
      .addOption(urlOption("gateway base URL"))
      .option("--api-url <url>", "base URL of the ingest and read APIs when TIDINGS_API_PORT gives them their own port (default: --url)")
      .option("--nats <url>", "also check the JetStream stream at this NATS URL")
      .option("--key-file <path>", "producer key in a file (else TIDINGS_INGEST_KEY), to check the store through the read API")
      .option("--max-skew <seconds>", "largest clock difference accepted", positiveInt("--max-skew"), 5)
      .option("--json", "the checks as one JSON object")
      .addHelpText("after", "\nExit status: 0 every check passed or was skipped, 1 a check failed, 2 usage error."),
  ).action(
    async (o: {
      url: string;
      apiUrl?: string;
      nats?: string;
      keyFile?: string;
      maxSkew: number;
      json?: boolean;
      tokenFile?: string;
      user?: string;
      tenant: string[];
    }) => {
      const ok = await doctor({ ...o, json: o.json === true, key: producerKey(o.keyFile, env) }, env, process.stdout);
      if (!ok) throw new Failure("some checks failed");
    },
  );

  return root;
}

/** Runs the CLI; resolves to the exit code. */
export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cli = program(env);
  try {
    await cli.parseAsync(argv, { from: "user" });
    if (argv.length === 0) {
      cli.outputHelp();
      return EXIT_USAGE;
    }
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; commander has already printed the message of anything else.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tidings: ${message}\n`);
    if (err instanceof UsageError) {
      process.stderr.write("(run with --help for usage)\n");
      return EXIT_USAGE;
    }
    if (!(err instanceof Failure) && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
    return EXIT_FAILURE;
  }
}

process.exitCode = await run(process.argv.slice(2), process.env);
