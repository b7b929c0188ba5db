import { asciiLowerCase } from "./ascii.js";

/*
 * Negotiate (docs/protocol.md §2), reproducing ASP.NET's HttpConnectionDispatcher: query names are case-insensitive,
 * repeated parameters read as their values joined with "," (StringValues), negotiateVersion is parsed
 * like .NET int.TryParse (optional surrounding whitespace and sign, ASCII digits, Int32 range).
 */

export type NegotiateRequest = { ok: true; version: 0 | 1; statefulReconnect: boolean } | { ok: false; error: string };

export type TransportName = "WebSockets" | "ServerSentEvents" | "LongPolling";

/** Fixed order: clients try transports in list order (docs/protocol.md §2.2). */
const TRANSPORT_ORDER: readonly TransportName[] = ["WebSockets", "ServerSentEvents", "LongPolling"];
const TRANSFER_FORMATS: Readonly<Record<TransportName, readonly string[]>> = {
  WebSockets: ["Text", "Binary"],
  // EventSource carries text only (docs/protocol.md §3.3).
  ServerSentEvents: ["Text"],
  LongPolling: ["Text", "Binary"],
};

/** Form decoding: "+" is a space; a malformed %-escape is kept literally (Uri.UnescapeDataString), never an error. */
function decodeQueryComponent(text: string): string {
  const spaced = text.replace(/\+/g, " ");
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
      const code = Number.parseInt(hex, 16);
      return code < 0x80 ? String.fromCharCode(code) : escape;
    });
  }
}

/** Values of `name` (compared ASCII case-insensitively) joined with ","; undefined when absent. */
function queryValue(query: string, name: string): string | undefined {
  const wanted = asciiLowerCase(name);
  const values: string[] = [];
  for (const part of query.split("&")) {
    if (part === "") continue;
    const equals = part.indexOf("=");
    const rawName = equals === -1 ? part : part.slice(0, equals);
    if (asciiLowerCase(decodeQueryComponent(rawName)) !== wanted) continue;
    values.push(equals === -1 ? "" : decodeQueryComponent(part.slice(equals + 1)));
  }
  return values.length === 0 ? undefined : values.join(",");
}

// .NET NumberStyles.Integer: whitespace is U+0009–U+000D and U+0020.
const DOTNET_INTEGER = /^[\t\n\v\f\r ]*([+-]?)([0-9]+)[\t\n\v\f\r ]*$/;

/** int.TryParse: undefined unless the text is an Int32. */
function parseDotNetInt32(text: string): number | undefined {
  const match = DOTNET_INTEGER.exec(text);
  if (match === null) return undefined;
  const digits = (match[2] ?? "").replace(/^0+(?=[0-9])/, "");
  if (digits.length > 10) return undefined;
  const value = (match[1] === "-" ? -1 : 1) * Number(digits);
  if (value < -0x80000000 || value > 0x7fffffff) return undefined;
  return value === 0 ? 0 : value; // no -0: the error text would print "0"
}

/**
 * query: the raw query string without "?" (a leading "?" is tolerated); parameter names
 * case-insensitive, values URL-decoded; useStatefulReconnect compared case-insensitively to "true".
 * `statefulReconnect` reports only what the client asked; the server setting is applied by the caller.
 */
export function parseNegotiateQuery(query: string): NegotiateRequest {
  const text = query.startsWith("?") ? query.slice(1) : query;
  let version: 0 | 1 = 0;
  const requested = queryValue(text, "negotiateVersion");
  if (requested !== undefined) {
    const parsed = parseDotNetInt32(requested);
    if (parsed === undefined) return { ok: false, error: "The client requested a non-integer protocol version." };
    if (parsed < 0) {
      return { ok: false, error: `The client requested version '${parsed}', but the server does not support this version.` };
    }
    // Versions above the server's highest get the highest.
    version = parsed === 0 ? 0 : 1;
  }
  const stateful = queryValue(text, "useStatefulReconnect");
  return { ok: true, version, statefulReconnect: stateful !== undefined && asciiLowerCase(stateful) === "true" };
}

/**
 * JSON body in the key order of docs/protocol.md §2.2: useStatefulReconnect (only when true), negotiateVersion,
 * connectionId, connectionToken (version 1 only), availableTransports (WebSockets, ServerSentEvents,
 * LongPolling, keeping those listed in `transports`). Never ProtocolVersion, url or accessToken.
 */
export function encodeNegotiateResponse(r: {
  version: 0 | 1;
  connectionId: string;
  connectionToken: string;
  transports: readonly TransportName[];
  statefulReconnect: boolean;
}): string {
  const body: Record<string, unknown> = {};
  if (r.statefulReconnect) body["useStatefulReconnect"] = true;
  body["negotiateVersion"] = r.version;
  body["connectionId"] = r.connectionId;
  if (r.version === 1) body["connectionToken"] = r.connectionToken;
  body["availableTransports"] = TRANSPORT_ORDER.filter((transport) => r.transports.includes(transport)).map((transport) => ({
    transport,
    transferFormats: TRANSFER_FORMATS[transport],
  }));
  return JSON.stringify(body);
}

/** `{"error":"…"}`: the only property of a negotiate error response (docs/protocol.md §2.1). */
export function encodeNegotiateError(error: string): string {
  return JSON.stringify({ error });
}
