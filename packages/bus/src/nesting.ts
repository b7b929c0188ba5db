/**
 * True when `data` (JSON text or MessagePack) opens at most `maxDepth` nested arrays and maps, read
 * without decoding it. A body of millions of one-element arrays costs a parser and the garbage collector
 * seconds per megabyte and could never be a valid envelope; one linear pass refuses it first. Malformed
 * input is not judged (true): the decoder refuses it.
 */
export function nestedWithin(data: Uint8Array, format: "json" | "msgpack", maxDepth: number): boolean {
  return format === "json" ? jsonNestedWithin(data, maxDepth) : msgpackNestedWithin(data, maxDepth);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LEFT_BRACKET = 0x5b;
const RIGHT_BRACKET = 0x5d;
const LEFT_BRACE = 0x7b;
const RIGHT_BRACE = 0x7d;

function jsonNestedWithin(data: Uint8Array, maxDepth: number): boolean {
  const n = data.length;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const b = data[i]!;
    if (b === QUOTE) {
      // to the closing quote; a backslash escapes the next byte
      for (i++; i < n && data[i] !== QUOTE; i++) if (data[i] === BACKSLASH) i++;
    } else if (b === LEFT_BRACKET || b === LEFT_BRACE) {
      if (++depth > maxDepth) return false;
    } else if (b === RIGHT_BRACKET || b === RIGHT_BRACE) depth--;
  }
  return true;
}

function msgpackNestedWithin(data: Uint8Array, maxDepth: number): boolean {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = data.length;
  // Per open container, the items it still holds (a map holds two per entry).
  const remaining: number[] = [];
  let i = 0;
  while (i < n) {
    const b = data[i++]!;
    let items = -1; // -1: not a container
    if (b <= 0x7f || b >= 0xe0) {
      // fixint
    } else if (b <= 0x8f) items = (b & 0x0f) * 2;
    else if (b <= 0x9f) items = b & 0x0f;
    else if (b <= 0xbf) i += b & 0x1f;
    else if (i + 4 > n)
      return true; // too few bytes left to nest much deeper; the decoder judges the rest
    else
      switch (b) {
        case 0xc0: // nil, false, true
        case 0xc2:
        case 0xc3:
          break;
        case 0xcc: // uint 8, int 8
        case 0xd0:
          i += 1;
          break;
        case 0xcd: // uint 16, int 16, fixext 1
        case 0xd1:
        case 0xd4:
          i += 2;
          break;
        case 0xd5: // fixext 2
          i += 3;
          break;
        case 0xca: // float 32, uint 32, int 32
        case 0xce:
        case 0xd2:
          i += 4;
          break;
        case 0xd6: // fixext 4
          i += 5;
          break;
        case 0xcb: // float 64, uint 64, int 64
        case 0xcf:
        case 0xd3:
          i += 8;
          break;
        case 0xd7: // fixext 8
          i += 9;
          break;
        case 0xd8: // fixext 16
          i += 17;
          break;
        case 0xc4: // bin 8, str 8
        case 0xd9:
          i += 1 + data[i]!;
          break;
        case 0xc7: // ext 8
          i += 2 + data[i]!;
          break;
        case 0xc5: // bin 16, str 16
        case 0xda:
          i += 2 + view.getUint16(i);
          break;
        case 0xc8: // ext 16
          i += 3 + view.getUint16(i);
          break;
        case 0xc6: // bin 32, str 32
        case 0xdb:
          i += 4 + view.getUint32(i);
          break;
        case 0xc9: // ext 32
          i += 5 + view.getUint32(i);
          break;
        case 0xdc: // array 16
          items = view.getUint16(i);
          i += 2;
          break;
        case 0xdd: // array 32
          items = view.getUint32(i);
          i += 4;
          break;
        case 0xde: // map 16
          items = view.getUint16(i) * 2;
          i += 2;
          break;
        case 0xdf: // map 32
          items = view.getUint32(i) * 2;
          i += 4;
          break;
        default:
          return true; // 0xc1 is no MessagePack: the decoder refuses it
      }
    if (items >= 0) {
      if (remaining.length >= maxDepth) return false;
      if (items > 0) {
        remaining.push(items);
        continue;
      }
    }
    // One complete item: it fills a place in its container, which may complete that one, and so on.
    while (remaining.length > 0 && --remaining[remaining.length - 1]! === 0) remaining.pop();
  }
  return true;
}
