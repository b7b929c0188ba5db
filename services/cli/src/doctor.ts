import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { subjects } from "@tidings/contracts";
import { causeOf } from "./errors.js";
import { hubConnection, userToken, type UserOptions } from "./connect.js";

export interface DoctorOptions extends UserOptions {
  url: string;
  /** Base URL of the ingest and read APIs when they have their own port; default `url`. */
  apiUrl?: string;
  nats?: string;
  maxSkew: number;
  json: boolean;
  key: string | undefined;
}

type Status = "ok" | "fail" | "skip";
export interface Check {
  name: string;
  status: Status;
  detail: string;
}

/**
 * Checks one deployment from outside, as an app and a producer would meet it: readiness, negotiate,
 * a WebSocket and an SSE connection with the stock client, the store (through the read API), the NATS
 * stream and the clock skew against the server's Date header. Returns false when any check failed.
 */
export async function doctor(opts: DoctorOptions, env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): Promise<boolean> {
  const base = opts.url;
  const token = await userToken(opts, env);
  const checks: Check[] = [];
  const run = async (name: string, fn: () => Promise<{ status?: Status; detail: string }>) => {
    const started = performance.now();
    let check: Check;
    try {
      const r = await fn();
      check = {
        name,
        status: r.status ?? "ok",
        detail: r.status === "skip" ? r.detail : `${r.detail} (${Math.round(performance.now() - started)} ms)`,
      };
    } catch (err) {
      check = { name, status: "fail", detail: causeOf(err) };
    }
    checks.push(check);
    if (!opts.json) out.write(`${check.status.toUpperCase().padEnd(5)} ${name.padEnd(10)} ${check.detail}\n`);
  };

  let serverDate: { ms: number; sent: number; received: number } | undefined;
  await run("ready", async () => {
    const url = new URL("/readyz", base).href;
    const sent = Date.now();
    const res = await request(url, { method: "GET" });
    const received = Date.now();
    const date = res.headers.get("date");
    if (date !== null) serverDate = { ms: Date.parse(date), sent, received };
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.trim()}`);
    return { detail: `GET ${url} answered 200` };
  });
  await run("negotiate", async () => {
    const url = new URL("/notifications/negotiate?negotiateVersion=1", base).href;
    const res = await request(url, { method: "POST", headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`POST ${url} answered ${res.status}: ${text.trim()}`);
    const body = JSON.parse(text) as { availableTransports?: { transport: string }[] };
    const transports = (body.availableTransports ?? []).map((t) => t.transport);
    return { detail: `${token === undefined ? "anonymous" : "with token"}; transports ${transports.join(", ") || "none"}` };
  });
  for (const [name, transport] of [
    ["websocket", "WebSockets"],
    ["sse", "ServerSentEvents"],
  ] as const) {
    await run(name, async () => {
      const connection = hubConnection(base, { token, transport, msgpack: false });
      try {
        await connection.start();
      } catch (err) {
        throw new Error(`cannot connect to ${new URL("/notifications", base).href} over ${transport}: ${causeOf(err)}`);
      }
      await connection.stop();
      return { detail: `connected and completed the handshake over ${transport}` };
    });
  }
  await run("store", async () => {
    const url = new URL("/api/users/tidings-doctor/notifications?limit=1", opts.apiUrl ?? base).href;
    const res = await request(url, { method: "GET", headers: opts.key === undefined ? {} : { authorization: `Bearer ${opts.key}` } });
    const text = await res.text();
    if (res.status === 401 && opts.key === undefined)
      return { status: "skip", detail: "needs a producer key (TIDINGS_INGEST_KEY or --key-file)" };
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.trim()}`);
    return { detail: `read API answered 200 from the store` };
  });
  await run("nats", async () => {
    if (opts.nats === undefined) return { status: "skip", detail: "pass --nats <url> to check the JetStream stream" };
    let nc;
    try {
      nc = await connect({ servers: opts.nats, maxReconnectAttempts: 0, timeout: 5000, name: "tidings-doctor" });
    } catch (err) {
      throw new Error(`cannot reach ${opts.nats}: ${causeOf(err)}`);
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5000 });
      const info = await jsm.streams.info(subjects.stream);
      const captures = info.config.subjects?.includes(subjects.notifyWildcard) === true;
      if (!captures) throw new Error(`stream ${subjects.stream} does not capture ${subjects.notifyWildcard}`);
      return {
        detail: `stream ${subjects.stream} at ${opts.nats}: ${info.state.messages} messages, ${info.state.consumer_count} consumers`,
      };
    } catch (err) {
      throw new Error(`stream ${subjects.stream} at ${opts.nats}: ${causeOf(err)}`);
    } finally {
      await nc.close();
    }
  });
  await run("clock", async () => {
    if (serverDate === undefined || Number.isNaN(serverDate.ms)) return { status: "skip", detail: "the server sent no Date header" };
    // The Date header has one-second resolution: compare against the middle of the request, allow 1 s.
    const local = (serverDate.sent + serverDate.received) / 2;
    const skew = (serverDate.ms + 500 - local) / 1000;
    const text = `server clock ${skew >= 0 ? "ahead by" : "behind by"} about ${Math.abs(skew).toFixed(1)} s`;
    if (Math.abs(skew) > opts.maxSkew + 1) throw new Error(`${text}; more than --max-skew ${opts.maxSkew} s breaks token expiry and TTLs`);
    return { detail: text };
  });

  if (opts.json) out.write(`${JSON.stringify({ url: base, checks })}\n`);
  return checks.every((c) => c.status !== "fail");
}

async function request(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new Error(`cannot reach ${url}: ${causeOf(err)}`);
  }
}
