/**
 * The HTTP/1.1 side of a raw benchmark WebSocket client: the upgrade request, and the server's answer
 * read out of the TCP stream.
 */
import { connect, type Socket } from "node:net";

const HEADER_END = Buffer.from("\r\n\r\n");

/** One read buffer for every socket of the process that reads with `onRead` (reads are handled one at a time). */
let sharedReadBuffer: Buffer | null = null;

/**
 * Opens a TCP connection from `localAddress` and sends the upgrade request for `pathAndQuery`. The
 * key is fixed: the server's accept value is not checked. With `onRead`, the socket emits no 'data':
 * each read goes to `onRead` in a buffer shared by all such sockets, valid only during the call
 * (no allocation and no stream machinery per read; copy what must outlive the call).
 */
export function connectUpgrade(port: number, localAddress: string, pathAndQuery: string, onRead?: (chunk: Buffer) => void): Socket {
  const request =
    `GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const socket = connect({
    host: "127.0.0.1",
    port,
    localAddress,
    noDelay: true,
    ...(onRead === undefined
      ? {}
      : {
          onread: {
            buffer: () => (sharedReadBuffer ??= Buffer.allocUnsafe(256 * 1024)),
            callback: (n: number, buf: Uint8Array) => {
              onRead((buf as Buffer).subarray(0, n));
              return true;
            },
          },
        }),
  });
  socket.once("connect", () => socket.write(request));
  return socket;
}

/** The server's answer to the upgrade: its status line, whether it switched protocols, and the bytes after the head (the first frames). */
export interface UpgradeAnswer {
  switched: boolean;
  status: string;
  rest: Buffer;
}

/** Collects the answer's head across chunks; `push` returns undefined until the head is complete. */
export class UpgradeReader {
  #head: Buffer | null = null;

  push(chunk: Buffer): UpgradeAnswer | undefined {
    const head = this.#head === null ? chunk : Buffer.concat([this.#head, chunk]);
    const end = head.indexOf(HEADER_END);
    if (end === -1) {
      this.#head = head;
      return undefined;
    }
    this.#head = null;
    const status = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
    return { switched: status.startsWith("HTTP/1.1 101"), status, rest: head.subarray(end + HEADER_END.length) };
  }
}
