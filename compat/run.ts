/**
 * `pnpm compat`: starts Tidings as `pnpm start` does (with TIDINGS_AUTH_JWT_SECRET set), runs every
 * third-party SignalR client program under compat/ over each transport and protocol it supports, and
 * prints the matrix; compat/results.md and compat/results.json keep it.
 *
 * Each program gets the scenario in COMPAT_* variables, prints `READY` once it is connected, has seen
 * the replay and is subscribed, then waits for the Global, User and Group notifications published here
 * and prints `RESULT {check: true | "why it failed"}` before it exits.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "..");
const SECRET = randomBytes(32).toString("base64url");
const TENANT = "compat-tenant";
const FOREIGN_TENANT = "compat-foreign";
/** no hyphen: clients that map targets to method names (Go, Java) need an identifier */
const TYPE = "compatnote";
const CHECKS = ["connect", "replay", "subscribe", "forbidden", "global", "user", "group", "markAsRead"] as const;
const CELL_TIMEOUT_MS = 60_000;
/**
 * signalrcore's long polling hands on only the first message of each poll response and keeps the rest
 * until a later poll returns something, so the replay, completions and notifications that share a poll
 * response with another message arrive late or never. Several messages per poll response are valid and
 * what every other client reads.
 */
const LP_FIRST_MESSAGE_ONLY =
  "signalrcore long polling reads only the first message of each poll response (LongPollingBaseClient._append); its long polling is new (mandrewcito/signalrcore#127), no upstream bug report yet";

type Transport = "WebSockets" | "ServerSentEvents" | "LongPolling";
type Protocol = "json" | "messagepack";

interface Client {
  name: string;
  /** package and version as installed for this run */
  version: () => string;
  build: () => void;
  command: (transport: Transport, protocol: Protocol) => [string, string[]];
  cwd: string;
  /** what the client library supports */
  transports: Transport[];
  protocols: Protocol[];
  /** known client bugs by cell, `transport/protocol` → upstream issue */
  knownBugs?: Record<string, string>;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync(command, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

const dir = (name: string) => join(here, name);
const goEnv = { ...process.env, PATH: `${process.env["PATH"] ?? ""}:${process.env["HOME"] ?? ""}/go/bin` };
const m2 = ["-q", "-B", `-Dmaven.repo.local=${join(dir("java"), ".m2")}`];

const clients: Client[] = [
  {
    name: "signalrcore (Python)",
    cwd: dir("python"),
    build: () => {
      run("python3", ["-m", "venv", ".venv"], dir("python"));
      run(".venv/bin/pip", ["install", "-q", "-r", "requirements.txt"], dir("python"));
    },
    version: () =>
      `signalrcore ${run(".venv/bin/python", ["-c", "import importlib.metadata as m; print(m.version('signalrcore'))"], dir("python")).trim()}`,
    command: (t, p) => [".venv/bin/python", ["signalrcore_client.py", t, p]],
    transports: ["WebSockets", "ServerSentEvents", "LongPolling"],
    protocols: ["json", "messagepack"],
    knownBugs: {
      "LongPolling/json": LP_FIRST_MESSAGE_ONLY,
      "LongPolling/messagepack": LP_FIRST_MESSAGE_ONLY,
    },
  },
  {
    name: "pysignalr (Python)",
    cwd: dir("python"),
    build: () => undefined, // shares the signalrcore virtualenv
    version: () =>
      `pysignalr ${run(".venv/bin/python", ["-c", "import importlib.metadata as m; print(m.version('pysignalr'))"], dir("python")).trim()}`,
    command: (t, p) => [".venv/bin/python", ["pysignalr_client.py", t, p]],
    transports: ["WebSockets"],
    protocols: ["json", "messagepack"],
  },
  {
    name: "philippseith/signalr (Go)",
    cwd: dir("go"),
    build: () => void run("go", ["build", "-o", "compat-go", "."], dir("go"), goEnv),
    version: () =>
      `github.com/philippseith/signalr ${run("go", ["list", "-m", "-f", "{{.Version}}", "github.com/philippseith/signalr"], dir("go"), goEnv).trim()}`,
    command: (t, p) => ["./compat-go", [t, p]],
    transports: ["WebSockets", "ServerSentEvents"],
    protocols: ["json", "messagepack"],
  },
  {
    name: "com.microsoft.signalr (Java)",
    cwd: dir("java"),
    build: () => {
      run("mvn", [...m2, "dependency:build-classpath", "-Dmdep.outputFile=cp.txt"], dir("java"));
      run("mvn", [...m2, "compile"], dir("java"));
    },
    version: () =>
      `com.microsoft.signalr:signalr ${/<signalr.version>([^<]+)</.exec(readFileSync(join(dir("java"), "pom.xml"), "utf8"))![1]!}`,
    command: (t, p) => [
      "java",
      ["-cp", `target/classes:${readFileSync(join(dir("java"), "cp.txt"), "utf8").trim()}`, "tidings.compat.Main", t, p],
    ],
    transports: ["WebSockets", "LongPolling"],
    protocols: ["json"],
  },
  {
    name: "signalrs-client (Rust)",
    cwd: dir("rust"),
    build: () => void run("cargo", ["build", "--release", "-q"], dir("rust")),
    version: () => {
      const lock = readFileSync(join(dir("rust"), "Cargo.lock"), "utf8");
      return `signalrs-client ${/name = "signalrs-client"\nversion = "([^"]+)"/.exec(lock)![1]!}`;
    },
    command: (t, p) => ["target/release/compat-rust", [t, p]],
    transports: ["WebSockets"],
    protocols: ["json"],
  },
];

function jwt(claims: Record<string, unknown>): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const body = `${enc({ alg: "HS256", typ: "JWT" })}.${enc({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${createHmac("sha256", SECRET).update(body).digest("base64url")}`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startTidings(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TIDINGS_")));
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--dev"], {
    cwd: join(root, "services", "standalone"),
    env: {
      ...env,
      TIDINGS_PORT: String(port),
      TIDINGS_HOST: "127.0.0.1",
      TIDINGS_METRICS_PORT: "0",
      TIDINGS_AUTH_JWT_SECRET: SECRET,
      TIDINGS_DATA_DIR: mkdtempSync(join(tmpdir(), "tidings-compat-")),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes("listening")) resolve({ url: `http://127.0.0.1:${port}`, child });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`tidings exited with ${code}:\n${log}`)));
  });
}

async function publish(url: string, envelopes: unknown[]): Promise<void> {
  // A fresh connection each time: a build between cells outlasts the server's keep-alive.
  const res = await fetch(`${url}/api/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json", connection: "close" },
    body: JSON.stringify(envelopes),
  });
  if (res.status !== 202) throw new Error(`publish answered ${res.status}: ${await res.text()}`);
}

type Check = (typeof CHECKS)[number];
type Outcome = Partial<Record<Check, true | string>>;

async function runCell(url: string, client: Client, transport: Transport, protocol: Protocol): Promise<{ outcome: Outcome; log: string }> {
  const cell = `${client.name.split(" ")[0]}-${transport}-${protocol}-${randomBytes(3).toString("hex")}`.replace(/[^A-Za-z0-9-]/g, "-");
  const ids = { replay: `${cell}-replay`, global: `${cell}-global`, user: `${cell}-user`, group: `${cell}-group` };
  const group = `${cell}-group`;
  const envelope = (id: string, audienceType: number, audienceValue?: string, persisted = false) => ({
    id,
    type: TYPE,
    body: { cell },
    routing: { audienceType, ...(audienceValue === undefined ? {} : { audienceValue }) },
    metadata: { producer: "compat", isPersisted: persisted },
  });
  await publish(url, [envelope(ids.replay, 4, cell, true)]);
  const [command, args] = client.command(transport, protocol);
  const child = spawn(command, args, {
    cwd: client.cwd,
    env: {
      ...process.env,
      COMPAT_HUB_URL: `${url}/notifications`,
      COMPAT_TOKEN: jwt({ sub: cell, tenant_id: [TENANT] }),
      COMPAT_TYPE: TYPE,
      COMPAT_GROUP: group,
      COMPAT_FOREIGN_TENANT: FOREIGN_TENANT,
      COMPAT_REPLAY_ID: ids.replay,
      COMPAT_GLOBAL_ID: ids.global,
      COMPAT_USER_ID: ids.user,
      COMPAT_GROUP_ID: ids.group,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  let outcome: Outcome = {};
  child.stderr.on("data", (d: Buffer) => (log += d.toString()));
  const lines = createInterface({ input: child.stdout });
  lines.on("line", (line) => {
    log += `${line}\n`;
    if (line === "READY") {
      publish(url, [envelope(ids.global, 1), envelope(ids.user, 4, cell, true), envelope(ids.group, 3, group)]).catch(
        (err: unknown) => (log += `publish failed: ${String(err)}\n`),
      );
    } else if (line.startsWith("RESULT ")) {
      outcome = JSON.parse(line.slice("RESULT ".length)) as Outcome;
      // Some clients take long to stop; the result is in, so a stop that hangs is cut short.
      setTimeout(() => child.kill("SIGKILL"), 3000).unref();
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), CELL_TIMEOUT_MS);
  await new Promise((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  return { outcome, log };
}

const failed = (outcome: Outcome) => CHECKS.filter((c) => outcome[c] !== true);

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const selected = clients.filter((c) => only.length === 0 || only.some((o) => c.name.toLowerCase().includes(o.toLowerCase())));
  const tidings = await startTidings();
  const rows: Array<{
    client: string;
    version: string;
    transport: Transport;
    protocol: Protocol;
    ok: boolean;
    failed: Check[];
    detail: Outcome;
    knownBug?: string;
  }> = [];
  const versions = new Map<string, string>();
  const buildErrors = new Map<string, string>();
  try {
    for (const client of selected) {
      // Built just before its cells, so the slow builds overlap nothing but a running Tidings.
      process.stderr.write(`building ${client.name}\n`);
      try {
        client.build();
        versions.set(client.name, client.version());
      } catch (err) {
        process.stderr.write(`${String(err)}\n`);
        buildErrors.set(client.name, String(err).split("\n")[0]!);
        versions.set(client.name, "(not built)");
      }
      for (const transport of client.transports) {
        for (const protocol of client.protocols) {
          if (transport === "ServerSentEvents" && protocol === "messagepack") continue; // SSE carries text only
          const started = Date.now();
          const buildError = buildErrors.get(client.name);
          const { outcome, log } =
            buildError === undefined
              ? await runCell(tidings.url, client, transport, protocol)
              : { outcome: { connect: `build failed: ${buildError}` }, log: "" };
          const missing = failed(outcome);
          const knownBug = client.knownBugs?.[`${transport}/${protocol}`];
          rows.push({
            client: client.name,
            version: versions.get(client.name)!,
            transport,
            protocol,
            ok: missing.length === 0,
            failed: missing,
            detail: outcome,
            ...(knownBug === undefined ? {} : { knownBug }),
          });
          process.stderr.write(
            `${missing.length === 0 ? "ok  " : "FAIL"} ${client.name} ${transport} ${protocol} (${Date.now() - started} ms)${missing.length === 0 ? "" : `: ${missing.join(", ")}\n${log}`}\n`,
          );
        }
      }
    }
  } finally {
    tidings.child.kill("SIGTERM");
  }
  const cellText = (r: (typeof rows)[number]) =>
    r.ok
      ? "✅ all checks"
      : `❌ ${r.failed.map((c) => (typeof r.detail[c] === "string" ? `${c} (${r.detail[c]})` : c)).join("; ")}${r.knownBug === undefined ? "" : ` — client bug: ${r.knownBug}`}`;
  const table = [
    "| client | version | transport | protocol | result |",
    "|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.client} | ${r.version} | ${r.transport} | ${r.protocol} | ${cellText(r)} |`),
  ].join("\n");
  const md = `# Client compatibility matrix\n\nGenerated by \`pnpm compat\` on ${new Date().toISOString().slice(0, 10)}. Checks per cell: ${CHECKS.join(", ")}.\n\n${table}\n`;
  writeFileSync(join(here, "results.md"), md);
  writeFileSync(join(here, "results.json"), `${JSON.stringify({ checks: CHECKS, rows }, null, 2)}\n`);
  process.stdout.write(`${table}\n`);
  if (only.length === 0) {
    // The README shows the matrix of the last full run.
    const readme = join(root, "README.md");
    const text = readFileSync(readme, "utf8").replace(
      /<!-- compat:begin -->[\s\S]*<!-- compat:end -->/,
      `<!-- compat:begin -->\n${table}\n<!-- compat:end -->`,
    );
    writeFileSync(readme, text);
  }
  if (rows.some((r) => !r.ok && r.knownBug === undefined)) process.exitCode = 1;
}

await main();
