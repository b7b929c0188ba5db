import type { Logger } from "@tidings/observability";
import type { ConnectionTable } from "./connection-table.js";

/**
 * Ends this node's connections for a drain (the caller already refuses new ones): each open connection
 * gets a Close with allowReconnect at a random moment within `drainMs`, so clients do not reconnect
 * elsewhere in one herd; connections still negotiating are dropped at once. Resolves when every
 * connection has ended, or after `drainMs` + 2 s, when the ones left are closed together.
 */
export async function drainConnections(table: ConnectionTable, drainMs: number, log: Logger): Promise<void> {
  log.info({ connections: table.size, drainMs }, "draining");
  const closers: NodeJS.Timeout[] = [];
  for (const connection of table.values()) {
    if (connection.state === "negotiated") table.remove(connection);
    else closers.push(setTimeout(() => connection.close({ allowReconnect: true }), Math.random() * drainMs));
  }
  const deadline = Date.now() + drainMs + 2000;
  while (table.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const t of closers) clearTimeout(t);
  for (const connection of table.values()) connection.close({ allowReconnect: true });
}
