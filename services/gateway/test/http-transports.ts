/** Raw HTTP clients for the SSE and long-polling transports: exact bytes, statuses and headers. */

export const RS = "\x1e";
export const JSON_HANDSHAKE = `{"protocol":"json","version":1}${RS}`;

export interface Negotiated {
  connectionId: string;
  /** the `id` of later requests: the token (version 1) or the connection id (version 0) */
  id: string;
}

export async function negotiate(baseUrl: string, headers: Record<string, string>, version: 0 | 1 = 1): Promise<Negotiated> {
  const res = await fetch(`${baseUrl}/notifications/negotiate${version === 1 ? "?negotiateVersion=1" : ""}`, { method: "POST", headers });
  if (res.status !== 200) throw new Error(`negotiate answered ${res.status}`);
  const body = (await res.json()) as { connectionId: string; connectionToken?: string };
  return { connectionId: body.connectionId, id: body.connectionToken ?? body.connectionId };
}

/** An SSE response read as it arrives. */
export class SseStream {
  /** every byte received so far, as text */
  text = "";
  readonly ended: Promise<void>;
  readonly #abort: AbortController;

  private constructor(
    readonly response: Response,
    abort: AbortController,
  ) {
    this.#abort = abort;
    const reader: ReadableStreamDefaultReader<Uint8Array> = response.body!.getReader();
    const decoder = new TextDecoder();
    this.ended = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          this.text += decoder.decode(value, { stream: true });
        }
      } catch {
        return; // aborted by close()
      }
    })();
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const abort = new AbortController();
    const response = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: abort.signal });
    return new SseStream(response, abort);
  }

  get status(): number {
    return this.response.status;
  }

  /** The `data:` payloads of the complete events received so far (comment lines such as the opening `:` are skipped). */
  events(): string[] {
    const complete = this.text.slice(0, this.text.lastIndexOf("\r\n\r\n") + 4);
    return complete
      .split("\r\n\r\n")
      .map((block) =>
        block
          .split("\r\n")
          .filter((line) => line.startsWith("data: "))
          .map((line) => line.slice("data: ".length))
          .join("\n"),
      )
      .filter((data) => data !== "");
  }

  close(): void {
    this.#abort.abort();
  }
}

export interface PollResult {
  status: number;
  body: string;
  headers: Headers;
  ms: number;
}

/** One long poll (or DELETE/POST when `init` says so), timed. */
export async function request(url: string, init: RequestInit = {}): Promise<PollResult> {
  const started = Date.now();
  const res = await fetch(url, init);
  const body = await res.text();
  return { status: res.status, body, headers: res.headers, ms: Date.now() - started };
}
