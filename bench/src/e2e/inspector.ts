/**
 * Full garbage collections in another Node process through its inspector (started with
 * `--inspect=127.0.0.1:0`), so its RSS can be read after GC like the bench servers' own `gc` command.
 */
import WebSocket from "ws";

/** The inspector's WebSocket URL as Node prints it at start ("Debugger listening on ws://…"). */
export function inspectorUrl(output: string): string {
  const m = /Debugger listening on (ws:\/\/\S+)/.exec(output);
  if (m === null) throw new Error("no inspector URL in the process output (started without --inspect?)");
  return m[1]!;
}

/** Runs `rounds` full GCs 200 ms apart via `HeapProfiler.collectGarbage`; rejects after `timeoutMs`. */
export async function collectGarbage(url: string, rounds = 3, timeoutMs = 30_000): Promise<void> {
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    for (let id = 1; id <= rounds; id++) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`inspector ${url}: no answer to collectGarbage within ${timeoutMs} ms`)), timeoutMs);
        const onMessage = (data: WebSocket.RawData) => {
          const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
          const reply = JSON.parse(bytes.toString("utf8")) as { id?: number; error?: { message: string } };
          if (reply.id !== id) return;
          clearTimeout(timer);
          ws.off("message", onMessage);
          if (reply.error !== undefined) reject(new Error(`inspector ${url}: ${reply.error.message}`));
          else resolve();
        };
        ws.on("message", onMessage);
        ws.send(JSON.stringify({ id, method: "HeapProfiler.collectGarbage" }));
      });
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    ws.close();
  }
}
