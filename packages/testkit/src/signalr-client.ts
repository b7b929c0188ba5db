import { HttpTransportType, HubConnectionBuilder, LogLevel, type HubConnection } from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

export interface ClientOptions {
  protocol?: "json" | "messagepack";
  skipNegotiation?: boolean;
  token?: string;
  keepAliveIntervalMs?: number;
  serverTimeoutMs?: number;
  automaticReconnect?: boolean;
}

/** A stock @microsoft/signalr client, WebSockets transport, as an app would build it. Not started. */
export function buildClient(baseUrl: string, opts: ClientOptions = {}): HubConnection {
  const token = opts.token;
  let builder = new HubConnectionBuilder()
    .withUrl(`${baseUrl}/notifications`, {
      transport: HttpTransportType.WebSockets,
      skipNegotiation: opts.skipNegotiation ?? false,
      ...(token === undefined ? {} : { accessTokenFactory: () => token }),
    })
    .configureLogging(LogLevel.None);
  if (opts.protocol === "messagepack") builder = builder.withHubProtocol(new MessagePackHubProtocol());
  if (opts.automaticReconnect === true) builder = builder.withAutomaticReconnect([0, 200, 500, 1000]);
  const connection = builder.build();
  if (opts.keepAliveIntervalMs !== undefined) connection.keepAliveIntervalInMilliseconds = opts.keepAliveIntervalMs;
  if (opts.serverTimeoutMs !== undefined) connection.serverTimeoutInMilliseconds = opts.serverTimeoutMs;
  return connection;
}

/** Collects every invocation of `target` a client receives. */
export function collect<T = unknown>(connection: HubConnection, target: string): T[] {
  const received: T[] = [];
  connection.on(target, (arg: T) => void received.push(arg));
  return received;
}
