import { readFileSync } from "node:fs";
import {
  HttpTransportType,
  HubConnectionBuilder,
  JsonHubProtocol,
  LogLevel,
  MessageType,
  type HubConnection,
  type HubMessage,
  type IHubProtocol,
  type ILogger,
  type InvocationMessage,
} from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { UsageError } from "./errors.js";
import { mintDevToken } from "./token.js";

export type Transport = "WebSockets" | "ServerSentEvents" | "LongPolling";
export const TRANSPORTS: readonly Transport[] = ["WebSockets", "ServerSentEvents", "LongPolling"];

export interface UserOptions {
  tokenFile?: string;
  user?: string;
  tenant: string[];
}

/**
 * The user's JWT: from `--token-file`, else TIDINGS_TOKEN, else minted for `--user` with
 * TIDINGS_AUTH_JWT_SECRET; none at all means anonymous.
 */
export async function userToken(opts: UserOptions, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (opts.tokenFile !== undefined) {
    try {
      return readFileSync(opts.tokenFile, "utf8").trim();
    } catch (err) {
      throw new UsageError(`--token-file ${opts.tokenFile}: ${(err as Error).message}`);
    }
  }
  const fromEnv = env["TIDINGS_TOKEN"];
  if (opts.user === undefined) return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
  return mintDevToken({ user: opts.user, tenant: opts.tenant, expires: 3600 }, env);
}

/**
 * Hands every invocation without an invocation id (a notification: its target is the envelope's
 * type, which a generic tool cannot register in advance) to `onNotification` and keeps it from the
 * hub connection, which would otherwise warn about a target without handler.
 */
class TapProtocol implements IHubProtocol {
  constructor(
    private readonly inner: IHubProtocol,
    private readonly onNotification: (m: InvocationMessage) => void,
  ) {}
  get name() {
    return this.inner.name;
  }
  get version() {
    return this.inner.version;
  }
  get transferFormat() {
    return this.inner.transferFormat;
  }
  parseMessages(input: string | ArrayBuffer, logger: ILogger): HubMessage[] {
    return this.inner.parseMessages(input, logger).filter((m) => {
      if (m.type !== MessageType.Invocation || m.invocationId !== undefined) return true;
      this.onNotification(m);
      return false;
    });
  }
  writeMessage(message: HubMessage): string | ArrayBuffer {
    return this.inner.writeMessage(message);
  }
}

export interface HubOptions {
  token: string | undefined;
  transport: Transport;
  msgpack: boolean;
  onNotification?: (m: InvocationMessage) => void;
}

/** A stock @microsoft/signalr connection to `<base>/notifications`. Not started. */
export function hubConnection(base: string, opts: HubOptions): HubConnection {
  const token = opts.token;
  const protocol = opts.msgpack ? new MessagePackHubProtocol() : new JsonHubProtocol();
  return new HubConnectionBuilder()
    .withUrl(new URL("/notifications", base).href, {
      transport: HttpTransportType[opts.transport],
      ...(token === undefined ? {} : { accessTokenFactory: () => token }),
    })
    .withHubProtocol(opts.onNotification === undefined ? protocol : new TapProtocol(protocol, opts.onNotification))
    .configureLogging(LogLevel.None)
    .build();
}
