/**
 * Hub method refusals (docs/contract.md §4). A refused call is sent to the client as
 * `An unexpected error occurred invoking '<Method>' on the server. HubException: <Code>: <detail>`;
 * this module owns the `<Code>: <detail>` part.
 */

/** Notiway's processing codes, by name. The numbers are Notiway's and never change. */
export const HubErrorCode = {
  /** The connection is anonymous and the call needs a user, or the token expired. */
  Unauthorized: 33,
  /** Tenant validation refused, or the caller is not a member of the audience it names. */
  Forbidden: 34,
  /** No stored, unexpired notification with that audience and id. */
  NotFound: 40,
  /** Subscribe/Unsubscribe on Global (1), User (4) or Connection (5). */
  NotSupported: 41,
  /** A missing or malformed argument, an unknown audienceType, an empty or too long value. */
  WrongInput: 45,
  /** Too many audiences on one connection, or the per-connection call rate exceeded. */
  Throttled: 71,
} as const;

export type HubErrorCodeName = keyof typeof HubErrorCode;

/** The number of a code name, e.g. 45 for `WrongInput`. */
export type HubErrorCodeNumber = (typeof HubErrorCode)[HubErrorCodeName];

/**
 * A refusal thrown by a hub method. `message` is exactly `<code>: <detail>`, the text the gateway
 * appends after `HubException: `, so a client can test `message.includes("HubException: Forbidden")`.
 * `detail` should be one short human sentence; it is sent to the client as given.
 */
export class HubMethodError extends Error {
  readonly code: HubErrorCodeName;
  readonly detail: string;

  constructor(code: HubErrorCodeName, detail: string, options?: ErrorOptions) {
    super(`${code}: ${detail}`, options);
    this.name = "HubMethodError";
    this.code = code;
    this.detail = detail;
  }

  /** Notiway's number for `code` (33, 34, 40, 41, 45 or 71). */
  get codeNumber(): HubErrorCodeNumber {
    return HubErrorCode[this.code];
  }
}
