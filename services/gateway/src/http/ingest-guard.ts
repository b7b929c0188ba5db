/**
 * Checks of the producer endpoints that a browser must not be able to pass: a web page may send a
 * cross-site POST without a preflight only with a "simple" content type (text/plain, form types),
 * and a page served from a rebound DNS name reaches loopback with its own name in `Host`.
 */

export type IngestMediaType = "json" | "msgpack";

const MEDIA_TYPES: Readonly<Record<string, IngestMediaType>> = { "application/json": "json", "application/msgpack": "msgpack" };
const PARAMETER = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+=(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"[^"\\]*")$/;

/**
 * The body format of `Content-Type` when its media type is exactly `application/json` or
 * `application/msgpack` (any case), with optional well-formed parameters such as `charset=utf-8`;
 * null for anything else, including a parameter that merely mentions one of them.
 */
export function ingestMediaType(contentType: string): IngestMediaType | null {
  if (contentType === "application/json") return "json"; // what nearly every producer sends: no split, no pattern
  const [type = "", ...parameters] = contentType.split(";");
  const format = MEDIA_TYPES[type.trim().toLowerCase()];
  if (format === undefined) return null;
  return parameters.every((p) => PARAMETER.test(p.trim())) ? format : null;
}

const LOOPBACK_HOST = /^(?:localhost|127(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}|\[::1\])(?::\d{1,5})?$/i;

/** True when the `Host` header names this machine's loopback interface: localhost, 127.x.y.z or [::1], with an optional port. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOST.test(host);
}
