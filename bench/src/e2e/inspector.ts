/**
 * A few calls into another Node process through its inspector (started with
 * `--inspect=127.0.0.1:0`): full garbage collections and `process.memoryUsage()`, so its memory can
 * be read after GC like the bench servers' own `gc` command.
 */
import WebSocket from "ws";

/** The inspector's WebSocket URL as Node prints it at start ("Debugger listening on ws://…"). */
export function inspectorUrl(output: string): string {
  const m = /Debugger listening on (ws:\/\/\S+)/.exec(output);
  if (m === null) throw new Error("no inspector URL in the process output (started without --inspect?)");
  return m[1]!;
}

export interface MemoryUsage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Opens a session, runs `use` with a `call(method, params)` function, closes the session. */
async function withSession<T>(
  url: string,
  timeoutMs: number,
  use: (call: (method: string, params?: unknown) => Promise<unknown>) => Promise<T>,
): Promise<T> {
  const ws = new WebSocket(url);
  let next = 0;
  const call = (method: string, params?: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => reject(new Error(`inspector ${url}: no answer to ${method} within ${timeoutMs} ms`)), timeoutMs);
      const onMessage = (data: WebSocket.RawData) => {
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        const reply = JSON.parse(bytes.toString("utf8")) as { id?: number; result?: unknown; error?: { message: string } };
        if (reply.id !== id) return;
        clearTimeout(timer);
        ws.off("message", onMessage);
        if (reply.error !== undefined) reject(new Error(`inspector ${url}: ${method}: ${reply.error.message}`));
        else resolve(reply.result);
      };
      ws.on("message", onMessage);
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return await use(call);
  } finally {
    ws.close();
  }
}

/**
 * Runs `rounds` full GCs 200 ms apart (`HeapProfiler.collectGarbage`), then returns the process's
 * `process.memoryUsage()`.
 */
export async function memoryAfterGc(url: string, rounds = 3, timeoutMs = 30_000): Promise<MemoryUsage> {
  return withSession(url, timeoutMs, async (call) => {
    for (let i = 0; i < rounds; i++) {
      await call("HeapProfiler.collectGarbage");
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = (await call("Runtime.evaluate", { expression: "JSON.stringify(process.memoryUsage())", returnByValue: true })) as {
      result: { value: string };
    };
    return JSON.parse(r.result.value) as MemoryUsage;
  });
}
