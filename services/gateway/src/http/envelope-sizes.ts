/**
 * Byte size of each envelope of an ingest body as received: the span of every top-level array element
 * (or of the whole body when it is one envelope), whitespace around it not counted. The size limit
 * applies to envelopes as received; without these sizes validation re-serialises every envelope with
 * JSON.stringify to measure it, ~3 µs of a ~4 µs validation per ~400 B envelope (3 of every 4 µs).
 *
 * `body` must be text that JSON.parse accepted: the scan only follows strings (for brackets and commas
 * inside them) and nesting, it does not validate.
 */
export function envelopeSizes(body: Uint8Array): number[] {
  const start = skipSpace(body, 0);
  let end = body.length;
  while (end > start && isSpace(body[end - 1]!)) end--;
  if (body[start] !== LEFT_BRACKET) return [end - start];
  const sizes: number[] = [];
  let depth = 0;
  let elementStart = -1;
  let lastNonSpace = -1;
  for (let i = start; i < end; i++) {
    const b = body[i]!;
    if (b === QUOTE) {
      if (depth >= 1 && elementStart < 0) elementStart = i;
      // to the closing quote; a backslash escapes the next byte
      for (i++; body[i] !== QUOTE; i++) if (body[i] === BACKSLASH) i++;
      lastNonSpace = i;
      continue;
    }
    if (isSpace(b)) continue;
    if (b === LEFT_BRACKET || b === LEFT_BRACE) {
      if (depth++ === 0) continue; // the outer array's own bracket
    } else if (b === RIGHT_BRACKET || b === RIGHT_BRACE) {
      if (--depth === 0) {
        if (elementStart >= 0) sizes.push(lastNonSpace - elementStart + 1);
        break;
      }
    } else if (b === COMMA && depth === 1) {
      sizes.push(lastNonSpace - elementStart + 1);
      elementStart = -1;
      continue;
    }
    if (depth >= 1 && elementStart < 0) elementStart = i;
    lastNonSpace = i;
  }
  return sizes;
}

/**
 * The sizes validation needs to enforce `limit` on a body holding `count` envelopes: as received
 * (`envelopeSizes`), except when the whole body is within the limit. No envelope in it can then exceed
 * the limit, so the body is not scanned and its own size stands for each envelope's (an upper bound).
 */
export function envelopeSizesWithin(body: Uint8Array, count: number, limit: number): number[] {
  return body.length <= limit ? new Array<number>(count).fill(body.length) : envelopeSizes(body);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const LEFT_BRACKET = 0x5b;
const RIGHT_BRACKET = 0x5d;
const LEFT_BRACE = 0x7b;
const RIGHT_BRACE = 0x7d;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function skipSpace(body: Uint8Array, i: number): number {
  while (i < body.length && isSpace(body[i]!)) i++;
  return i;
}
