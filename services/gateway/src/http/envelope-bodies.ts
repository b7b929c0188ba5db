/**
 * The JSON of each envelope's `body` as received (a view of `text`): for every top-level array element (or the whole
 * request when it is one envelope) that is an object, the span of the value of its last top-level
 * `body` key, which is the member JSON.parse keeps. Undefined for an element that is not an object or
 * has no `body`. Keys are compared as JSON.parse reads them (an escaped key is decoded). Also undefined
 * for a body holding a negative zero (`-0`, `-0.0e3`): JSON.stringify writes it `0`, and a frame around
 * the text as sent would give JSON clients -0 where they got 0.
 *
 * `text` must be the bytes whose UTF-8 decoding JSON.parse accepted: the scan follows strings and
 * nesting, it does not validate. It runs on the bytes (several times faster than on the decoded string);
 * a span's ends are ASCII delimiters, so its decoding is the very characters the whole request's has there.
 */
export function envelopeBodies(text: Uint8Array): (Uint8Array | undefined)[] {
  const first = skipSpace(text, 0);
  const batch = text[first] === LEFT_BRACKET;
  // Nesting depth of an envelope's own members: inside the batch's array and the envelope's braces.
  const memberDepth = batch ? 2 : 1;
  const bodies: (Uint8Array | undefined)[] = [];
  if (!batch && text[first] !== LEFT_BRACE) return [undefined];
  let depth = batch ? 1 : 0;
  let elements = 0; // elements of the batch seen
  let inEnvelope = false; // an object element (or the single envelope) is open
  let atKey = false; // the next string at memberDepth is a member's key
  let isBody = false; // the current member's key reads as `body`
  let valueStart = -1; // where the current body value starts, once seen
  let negativeZero = false; // the current body value holds a -0
  let body: Uint8Array | undefined;
  let lastNonSpace = first;
  // Ends the envelope member being read at `i` (a `,` or `}` at memberDepth).
  const endMember = (i: number): void => {
    if (isBody && valueStart >= 0) body = negativeZero ? undefined : text.subarray(valueStart, i);
    isBody = false;
    valueStart = -1;
    negativeZero = false;
  };
  for (let i = batch ? first + 1 : first; i < text.length; i++) {
    const b = text[i]!;
    if (isSpace(b)) continue;
    if (depth === memberDepth - 1 && elements === bodies.length && b !== RIGHT_BRACKET && b !== COMMA) {
      // an element of the batch (or the single envelope) starts here
      elements++;
      inEnvelope = b === LEFT_BRACE;
      body = undefined;
    }
    if (b === QUOTE) {
      const end = stringEnd(text, i);
      if (inEnvelope && depth === memberDepth) {
        if (atKey) {
          isBody = isBodyKey(text, i, end);
          atKey = false;
        } else if (isBody) valueStart = i;
      }
      i = lastNonSpace = end;
      continue;
    }
    if (inEnvelope && depth === memberDepth && isBody && valueStart < 0 && b !== COLON) valueStart = i;
    if (b === LEFT_BRACE || b === LEFT_BRACKET) {
      if (++depth === memberDepth && inEnvelope) atKey = true;
    } else if (b === RIGHT_BRACE || b === RIGHT_BRACKET) {
      if (depth === memberDepth && inEnvelope) {
        endMember(lastNonSpace + 1);
        inEnvelope = false;
      }
      if (--depth === memberDepth - 1) {
        bodies.push(body);
        if (!batch) return bodies;
      } else if (depth === 0) {
        // the batch's closing bracket; an element that was not an object or array ends here
        if (elements > bodies.length) bodies.push(undefined);
        return bodies;
      }
    } else if (b === COMMA) {
      if (depth === memberDepth && inEnvelope) {
        endMember(lastNonSpace + 1);
        atKey = true;
      } else if (depth === memberDepth - 1 && elements > bodies.length) bodies.push(undefined);
    } else if (b === MINUS && valueStart >= 0 && isNegativeZero(text, i)) negativeZero = true;
    lastNonSpace = i;
  }
  return bodies;
}

/** True when the key `text[quote, keyEnd]` (quotes included) reads as `body`. */
function isBodyKey(text: Uint8Array, quote: number, keyEnd: number): boolean {
  const length = keyEnd - quote - 1;
  if (length === 4) return text[quote + 1]! === 0x62 && text[quote + 2]! === 0x6f && text[quote + 3]! === 0x64 && text[quote + 4]! === 0x79;
  // Escaped characters make a key longer than it reads: `"b\u006fdy"` is `body` too.
  if (length < 4 || length > 24) return false;
  for (let j = quote + 1; j < keyEnd; j++) {
    if (text[j]! === BACKSLASH)
      return JSON.parse(Buffer.from(text.buffer, text.byteOffset + quote, length + 2).toString("utf8")) === "body";
  }
  return false;
}

/** True when the number at `minus` is a zero (`-0`, `-0.00`, `-0e5`): its digits before any exponent are all 0. */
function isNegativeZero(text: Uint8Array, minus: number): boolean {
  let i = minus + 1;
  if (text[i]! !== ZERO) return false;
  i++;
  if (text[i]! === DOT) while (text[++i] === ZERO);
  const b = text[i]!;
  return !(b > ZERO && b <= NINE);
}

/**
 * The index of the quote closing the string opened at `quote`; a backslash escapes the next character.
 * Byte by byte: most strings of a body are short, and an `indexOf` call costs more than such a string's loop.
 */
function stringEnd(text: Uint8Array, quote: number): number {
  for (let i = quote + 1; ; i++) {
    const c = text[i]!;
    if (c === QUOTE) return i;
    if (c === BACKSLASH) i++;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LEFT_BRACKET = 0x5b;
const RIGHT_BRACKET = 0x5d;
const LEFT_BRACE = 0x7b;
const RIGHT_BRACE = 0x7d;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function skipSpace(text: Uint8Array, i: number): number {
  while (isSpace(text[i]!)) i++;
  return i;
}
