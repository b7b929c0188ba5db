/** Receives the pre-encoded bytes published to a topic it joined; the same bytes object goes to every subscriber. */
export type TopicSink = (bytes: Uint8Array) => void;

/**
 * Fan-out topics for transports that uWS topics cannot reach (SSE responses, long-polling queues). Same
 * topic names as the uWS topics, so the Fanout publishes each notification's bytes, encoded once per
 * protocol, to both registries and every subscriber here shares that one bytes object.
 */
export class JsTopics {
  readonly #topics = new Map<string, Set<TopicSink>>();

  /** Joining a topic twice with the same sink delivers once. */
  subscribe(topic: string, sink: TopicSink): void {
    let sinks = this.#topics.get(topic);
    if (sinks === undefined) this.#topics.set(topic, (sinks = new Set()));
    sinks.add(sink);
  }

  unsubscribe(topic: string, sink: TopicSink): void {
    const sinks = this.#topics.get(topic);
    if (sinks === undefined || !sinks.delete(sink)) return;
    if (sinks.size === 0) this.#topics.delete(topic);
  }

  /**
   * Hands `bytes` to every sink of `topic`, in subscription order. A sink may unsubscribe itself or others
   * while this runs (a slow consumer closing): removed sinks that were not reached yet are skipped.
   * True when the topic had a sink.
   */
  publish(topic: string, bytes: Uint8Array): boolean {
    const sinks = this.#topics.get(topic);
    if (sinks === undefined) return false;
    for (const sink of sinks) sink(bytes);
    return true;
  }

  numSubscribers(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /** True while no topic has a subscriber (no SSE or long-polling connection is in an audience). */
  get empty(): boolean {
    return this.#topics.size === 0;
  }
}

/**
 * The topics one transport joined: joins each once, and leaves all of them when the transport ends, so a
 * publish never reaches a transport that is gone.
 */
export class TopicMembership {
  readonly #joined = new Set<string>();

  constructor(
    private readonly topics: JsTopics,
    private readonly sink: TopicSink,
  ) {}

  join(topic: string): void {
    if (this.#joined.has(topic)) return;
    this.#joined.add(topic);
    this.topics.subscribe(topic, this.sink);
  }

  leave(topic: string): void {
    if (this.#joined.delete(topic)) this.topics.unsubscribe(topic, this.sink);
  }

  leaveAll(): void {
    for (const topic of this.#joined) this.topics.unsubscribe(topic, this.sink);
    this.#joined.clear();
  }
}
