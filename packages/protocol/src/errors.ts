/*
 * Exact error strings of docs/protocol.md §4.1 and §10. Clients show them verbatim (JS: `Error(<error>)`), and
 * conformance tests compare them byte for byte, so they are built only here.
 */

function withDetail(base: string, detail: string | undefined): string {
  return detail === undefined || detail === "" ? base : `${base} ${detail}`;
}

/** Completion `error` values (docs/protocol.md §10). `target` is always quoted exactly as the client sent it. */
export const HubErrors = {
  methodDoesNotExist: (target: string): string =>
    `Failed to invoke '${target}' due to an error on the server. HubException: Method does not exist.`,
  /** Wrong argument count or type. `detail` (TIDINGS_DETAILED_ERRORS only) is appended after a space; see HubErrorDetails. */
  binding: (target: string, detail?: string): string => withDetail(`Failed to invoke '${target}' due to an error on the server.`, detail),
  nonStreaming: (target: string): string =>
    `The client attempted to invoke the non-streaming '${target}' method with a streaming invocation.`,
  streamsUnsupported: (target: string, n: number): string =>
    `An unexpected error occurred invoking '${target}' on the server. HubException: Client sent ${n} stream(s), Hub method expects 0.`,
  /** `message` is `<Code>: <detail>` of the contract; sent in every mode. */
  hubException: (target: string, message: string): string =>
    `An unexpected error occurred invoking '${target}' on the server. HubException: ${message}`,
  /** `detail` (TIDINGS_DETAILED_ERRORS only) is `<ErrorName>: <message>`, appended after a space. */
  internal: (target: string, detail?: string): string =>
    withDetail(`An unexpected error occurred invoking '${target}' on the server.`, detail),
} as const;

/** The `detail` arguments of HubErrors.binding with TIDINGS_DETAILED_ERRORS=true (docs/protocol.md §10). */
export const HubErrorDetails = {
  argumentCount: (provided: number, expected: number): string =>
    `InvalidDataException: Invocation provides ${provided} argument(s) but target expects ${expected}.`,
  argumentTypes:
    "InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.",
} as const;

/** Handshake `error` values (docs/protocol.md §4.1). */
export const HandshakeErrors = {
  /** `name` exactly as the client sent it. */
  unsupportedProtocol: (name: string): string => `The protocol '${name}' is not supported.`,
  /** `protocol` is the canonical name ("json" / "messagepack"), as ASP.NET writes it. */
  unsupportedVersion: (version: number, protocol: string): string =>
    `The server does not support version ${version} of the '${protocol}' protocol.`,
  binaryOnTextTransport: (protocol: string): string =>
    `Cannot use the '${protocol}' protocol on the current transport. The transport does not support 'Binary' transfer format.`,
  canceled: "Handshake was canceled.",
  unexpected: "An unexpected error occurred during connection handshake.",
} as const;
