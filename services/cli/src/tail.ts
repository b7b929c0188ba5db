import type { InvocationMessage } from "@microsoft/signalr";
import { Failure, causeOf } from "./errors.js";
import { hubConnection, userToken, type Transport, type UserOptions } from "./connect.js";

export interface TailOptions extends UserOptions {
  url: string;
  transport: Transport;
  msgpack: boolean;
  json: boolean;
  count?: number;
}

/**
 * Connects as a user and prints every notification that arrives (the replay first), one line each:
 * with `--json` the delivered notification as JSON, else `time  type  audience  id  body`. Ends after
 * `--count` notifications, on SIGINT/SIGTERM (exit 0) or when the server closes the connection (exit 1).
 */
export async function tail(
  opts: TailOptions,
  env: NodeJS.ProcessEnv,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<void> {
  const token = await userToken(opts, env);
  let seen = 0;
  let finish: (error?: Error) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => (finish = (e) => (e === undefined ? resolve() : reject(e))));
  const connection = hubConnection(opts.url, {
    token,
    transport: opts.transport,
    msgpack: opts.msgpack,
    onNotification: (m: InvocationMessage) => {
      if (opts.count !== undefined && seen >= opts.count) return;
      seen++;
      out.write(`${opts.json ? JSON.stringify(m.arguments[0]) : describe(m)}\n`);
      if (opts.count !== undefined && seen >= opts.count) finish();
    },
  });
  connection.onclose((e) => finish(new Failure(`connection to ${opts.url} closed${e === undefined ? "" : `: ${causeOf(e)}`}`)));
  const hubUrl = new URL("/notifications", opts.url).href;
  try {
    await connection.start();
  } catch (e) {
    throw new Failure(`cannot connect to ${hubUrl} over ${opts.transport}: ${causeOf(e)}`);
  }
  err.write(
    `tidings: connected to ${hubUrl} over ${opts.transport}${token === undefined ? " (anonymous)" : ""}; waiting for notifications\n`,
  );
  const stop = () => finish();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await finished;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await connection.stop();
  }
}

function describe(m: InvocationMessage): string {
  const n = (m.arguments[0] ?? {}) as {
    id?: string;
    audienceId?: string;
    body?: unknown;
    isRead?: boolean;
    metadata?: { timeStamp?: string };
  };
  const read = n.isRead === true ? "  (read)" : "";
  return `${n.metadata?.timeStamp ?? ""}  ${m.target}  ${n.audienceId ?? ""}  ${n.id ?? ""}  ${JSON.stringify(n.body ?? null)}${read}`;
}
