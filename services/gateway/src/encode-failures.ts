import type { Logger } from "@tidings/observability";
import type { ProtocolName } from "@tidings/protocol";

/** Notifications remembered as already logged; past this many the memory starts over. */
const MAX_REMEMBERED = 10_000;

/**
 * Where fan-out and replay report a notification that a protocol cannot encode (for example a body
 * stored before ingest refused deep nesting, beyond MessagePack's depth limit). The caller skips
 * that notification for that protocol only; the connection and the process carry on. Every failure
 * is counted; each notification is logged once, not once per connection that replays it.
 */
export class EncodeFailures {
  readonly #logged = new Set<string>();

  constructor(
    private readonly counter: { inc(labels: { protocol: ProtocolName }): void },
    private readonly log: Logger,
  ) {}

  report(notification: { id: string; routing: { audienceId: string } }, protocol: ProtocolName, err: unknown): void {
    this.counter.inc({ protocol });
    const key = notification.routing.audienceId + "\n" + notification.id;
    if (this.#logged.has(key)) return;
    if (this.#logged.size >= MAX_REMEMBERED) this.#logged.clear();
    this.#logged.add(key);
    this.log.error(
      { err, notificationId: notification.id, audienceId: notification.routing.audienceId, protocol },
      "notification cannot be encoded; skipped",
    );
  }
}
