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
  type ILogger,
} from "@aspnet/signalr";
import { MessagePackHubProtocol } from "@aspnet/signalr-protocol-msgpack";
import { recordExchange, type HttpExchange } from "./http-exchange.js";

export { LogLevel as LegacyLogLevel } from "@aspnet/signalr";
export type { ILogger as LegacyLogger } from "@aspnet/signalr";

export interface LegacyClientOptions {
  /** default: every transport the negotiate offers, in list order */
  transport?: "WebSockets" | "ServerSentEvents" | "LongPolling";
  token?: string;
  /** default JSON; "messagepack" uses `@aspnet/signalr-protocol-msgpack` 1.x */
  protocol?: "json" | "messagepack";
  /** receives every log entry of the client (default: none) */
  logger?: ILogger;
  /** receives every HTTP request the client makes (negotiate, polls, POSTs, DELETE) with its answer */
  exchanges?: HttpExchange[];
}

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

/**
 * An old `@aspnet/signalr` 1.x client (negotiate version 0: it sends no `negotiateVersion` and uses the
 * connectionId as `id`), as apps built on ASP.NET Core 2.x still ship it. Not started.
 */
export function buildLegacyClient(baseUrl: string, opts: LegacyClientOptions = {}): HubConnection {
  const token = opts.token;
  const builder = new HubConnectionBuilder().withUrl(`${baseUrl}/notifications`, {
    ...(opts.transport === undefined ? {} : { transport: HttpTransportType[opts.transport] }),
    ...(token === undefined ? {} : { accessTokenFactory: () => token }),
    ...(opts.exchanges === undefined ? {} : { httpClient: new RecordingHttpClient(opts.exchanges) }),
    logger: opts.logger ?? LogLevel.None,
  });
  return (opts.protocol === "messagepack" ? builder.withHubProtocol(new MessagePackHubProtocol()) : builder).build();
}
