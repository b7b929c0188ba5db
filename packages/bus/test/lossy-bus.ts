import type { Bus, BusHeaders, BusMessage, BusSubscribeOptions, BusSubscription } from "@tidings/contracts";

/** A `Bus` that silently loses the publishes `drop` selects, to test repair of lost messages. */
export class LossyBus implements Bus {
  drop: ((subject: string, data: Uint8Array) => boolean) | null = null;
  dropped = 0;

  constructor(private readonly inner: Bus) {}

  publish(subject: string, data: Uint8Array, headers?: BusHeaders): void {
    if (this.drop?.(subject, data) === true) {
      this.dropped++;
      return;
    }
    this.inner.publish(subject, data, headers);
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void | Promise<void>, opts?: BusSubscribeOptions): BusSubscription {
    return this.inner.subscribe(subject, handler, opts);
  }

  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: BusHeaders }): Promise<BusMessage> {
    return this.inner.request(subject, data, opts);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

const dec = new TextDecoder();

/** Selects registry deltas of `nodeId` (not heartbeats). */
export function isDeltaOf(nodeId: string): (subject: string, data: Uint8Array) => boolean {
  return (_subject, data) => {
    const text = dec.decode(data);
    return text.includes('"kind":"delta"') && text.includes(`"nodeId":${JSON.stringify(nodeId)}`);
  };
}
