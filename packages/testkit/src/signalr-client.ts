import {
  DefaultHttpClient,
  HttpClient,
  HttpTransportType,
  HubConnectionBuilder,
  LogLevel,
  NullLogger,
  type HttpRequest,
  type HttpResponse,
  type HubConnection,
} from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { recordExchange, type HttpExchange } from "./http-exchange.js";

export interface ClientOptions {
  protocol?: "json" | "messagepack";
  skipNegotiation?: boolean;
  token?: string;
  keepAliveIntervalMs?: number;
  serverTimeoutMs?: number;
  automaticReconnect?: boolean;
  /** `withStatefulReconnect()`: negotiates it, and reattaches a WebSocket lost without close frame */
  statefulReconnect?: boolean;
  /** default WebSockets; "any" lets the client take the negotiated transports in list order */
  transport?: "WebSockets" | "ServerSentEvents" | "LongPolling" | "any";
  /** receives every HTTP request the client makes (negotiate, polls, POSTs, DELETE) with its answer */
  exchanges?: HttpExchange[];
}

/** The client's own HTTP client, recording what passes through it. */
class RecordingHttpClient extends HttpClient {
  readonly #inner = new DefaultHttpClient(NullLogger.instance);
  constructor(private readonly exchanges: HttpExchange[]) {
    super();
  }
  send(request: HttpRequest): Promise<HttpResponse> {
    return recordExchange(this.exchanges, request, () => this.#inner.send(request));
  }
  override getCookieString(url: string): string {
    return this.#inner.getCookieString(url);
  }
}

/** A stock @microsoft/signalr client, WebSockets transport unless `transport` says otherwise, as an app would build it. Not started. */
export function buildClient(baseUrl: string, opts: ClientOptions = {}): HubConnection {
  const token = opts.token;
  const transport = opts.transport ?? "WebSockets";
  let builder = new HubConnectionBuilder()
    .withUrl(`${baseUrl}/notifications`, {
      ...(transport === "any" ? {} : { transport: HttpTransportType[transport] }),
      skipNegotiation: opts.skipNegotiation ?? false,
      ...(token === undefined ? {} : { accessTokenFactory: () => token }),
      ...(opts.exchanges === undefined ? {} : { httpClient: new RecordingHttpClient(opts.exchanges) }),
    })
    .configureLogging(LogLevel.None);
  if (opts.protocol === "messagepack") builder = builder.withHubProtocol(new MessagePackHubProtocol());
  if (opts.automaticReconnect === true) builder = builder.withAutomaticReconnect([0, 200, 500, 1000]);
  if (opts.statefulReconnect === true) builder = builder.withStatefulReconnect();
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
