import { describe, expect, it } from "vitest";
import { JsTopics, TopicMembership } from "./js-topics.js";

describe("JsTopics", () => {
  it("hands the very same bytes object to every subscriber of a topic, once per sink", () => {
    const topics = new JsTopics();
    const a: Uint8Array[] = [];
    const b: Uint8Array[] = [];
    const sinkA = (bytes: Uint8Array) => void a.push(bytes);
    const sinkB = (bytes: Uint8Array) => void b.push(bytes);
    topics.subscribe("j|global", sinkA);
    topics.subscribe("j|global", sinkA);
    topics.subscribe("j|global", sinkB);
    topics.subscribe("m|global", sinkB);
    expect(topics.numSubscribers("j|global")).toBe(2);
    const bytes = Uint8Array.of(1, 2, 3);
    topics.publish("j|global", bytes);
    expect(a).toHaveLength(1);
    expect(a[0]).toBe(bytes);
    expect(b[0]).toBe(bytes);
    expect(b).toHaveLength(1);
  });

  it("skips a sink removed by another sink during publish, and forgets empty topics", () => {
    const topics = new JsTopics();
    const got: string[] = [];
    const second = () => void got.push("second");
    const first = () => {
      got.push("first");
      topics.unsubscribe("t", second);
    };
    topics.subscribe("t", first);
    topics.subscribe("t", second);
    topics.publish("t", Uint8Array.of(0));
    expect(got).toEqual(["first"]);
    topics.unsubscribe("t", first);
    expect(topics.numSubscribers("t")).toBe(0);
    topics.publish("t", Uint8Array.of(0));
    expect(got).toEqual(["first"]);
  });
});

describe("TopicMembership", () => {
  it("joins each topic once, leaves one, and after leaveAll no publish reaches the transport", () => {
    const topics = new JsTopics();
    const got: Uint8Array[] = [];
    const membership = new TopicMembership(topics, (bytes) => void got.push(bytes));
    membership.join("j|global");
    membership.join("j|global");
    membership.join("j|u|alice");
    membership.join("j|t|acme");
    expect(topics.numSubscribers("j|global")).toBe(1);
    topics.publish("j|global", Uint8Array.of(1));
    expect(got).toHaveLength(1);
    membership.leave("j|t|acme");
    membership.leave("j|t|acme");
    expect(topics.numSubscribers("j|t|acme")).toBe(0);
    membership.leaveAll();
    for (const topic of ["j|global", "j|u|alice"]) {
      topics.publish(topic, Uint8Array.of(2));
      expect(topics.numSubscribers(topic)).toBe(0);
    }
    expect(got).toHaveLength(1);
    membership.join("j|global"); // a topic left by leaveAll can be joined again
    expect(topics.numSubscribers("j|global")).toBe(1);
  });
});
