import { headers as natsHeaders, type MsgHdrs } from "@nats-io/nats-core";
import type { BusHeaders } from "@tidings/contracts";

/** NATS headers with the names exactly as given (no MIME canonicalisation). */
export function toNatsHeaders(h: BusHeaders): MsgHdrs {
  const out = natsHeaders();
  for (const name of Object.keys(h)) out.set(name, h[name]!);
  return out;
}

/** The first value of every header, or null when the message carried none. */
export function fromNatsHeaders(h: MsgHdrs | undefined): BusHeaders | null {
  if (h === undefined) return null;
  const out: Record<string, string> = {};
  for (const [name, values] of h) {
    const first = values[0];
    if (first !== undefined) out[name] = first;
  }
  return out;
}

/** A header's value, matching its name case-insensitively (producers spell `Content-Type` freely). */
export function headerValue(h: BusHeaders | null, name: string): string | undefined {
  if (h === null) return undefined;
  const exact = h[name];
  if (exact !== undefined) return exact;
  // Asked for every message (trace context, content type) and usually absent: no array of keys and no
  // lower-cased copies; only keys of the same length are compared.
  for (const key in h) {
    if (key.length === name.length && sameIgnoringCase(key, name) && Object.prototype.hasOwnProperty.call(h, key)) return h[key];
  }
  return undefined;
}

/** `a.toLowerCase() === b.toLowerCase()` for strings of the same length, without the copies when both are ASCII. */
function sameIgnoringCase(a: string, b: string): boolean {
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x > 0x7f || y > 0x7f) return a.toLowerCase() === b.toLowerCase();
    if (x >= 0x41 && x <= 0x5a) x += 0x20;
    if (y >= 0x41 && y <= 0x5a) y += 0x20;
    if (x !== y) return false;
  }
  return true;
}
