import type { DeliveredNotification, NotificationStore } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import type { HubConnection } from "./connection.js";
import type { EncodeFailures } from "./encode-failures.js";

/**
 * Sends a connection the stored notifications of `audiences` (docs/contract.md §6): oldest first, each with
 * this user's read flag, encoded for this connection alone (replay is per connection by nature).
 * At-least-once: a notification may also arrive live during the replay; clients de-duplicate by id.
 * Never rejects: a store failure is logged and skips the replay (resolving "failed"); a notification the connection's
 * protocol cannot encode is reported and skipped. Neither ends the connection.
 * `since` asks only for what the store received from then on; `skip` drops items before they are sent.
 */
export async function replayTo(
  store: NotificationStore,
  connection: HubConnection,
  audiences: readonly string[],
  limit: number,
  log: Logger,
  encodeFailures: EncodeFailures,
  opts: { since?: Date; skip?: (n: DeliveredNotification) => boolean } = {},
): Promise<number | "failed"> {
  if (limit === 0 || audiences.length === 0) return 0;
  let items;
  try {
    items = await store.replay({
      userId: connection.identity.userId,
      audiences,
      limit,
      now: new Date(),
      ...(opts.since === undefined ? {} : { since: opts.since }),
    });
  } catch (err) {
    log.warn({ err, connectionId: connection.id }, "replay failed; continuing without it");
    return "failed";
  }
  const protocol = connection.protocol;
  if (protocol === null || connection.state !== "open") return 0;
  const now = Date.now();
  let sent = 0;
  for (const n of items) {
    if (opts.skip?.(n) === true) continue;
    let bytes: Uint8Array;
    try {
      bytes = protocol.encodeNotification(n.type, n);
    } catch (err) {
      encodeFailures.report(n, protocol.name, err);
      continue;
    }
    connection.sendMessage(bytes, now);
    sent++;
  }
  return sent;
}
