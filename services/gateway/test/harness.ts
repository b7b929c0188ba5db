import { loadConfig } from "@tidings/config";
import type { Notification } from "@tidings/contracts";
import { Registry, silentLogger } from "@tidings/observability";
import { freePort, TEST_JWT_SECRET } from "@tidings/testkit";
import { createGateway, type Gateway, type GatewayDeps } from "../src/index.js";

export interface TestGateway {
  readonly url: string;
  readonly port: number;
  readonly gateway: Gateway;
  /** POST /api/notifications from loopback (no producer key configured unless env sets one) */
  publish(envelopes: unknown, headers?: Record<string, string>): Promise<Response>;
  /**
   * One sample of this node's metrics, e.g. `tidings_gateway_disconnects_total{reason="drain"}`, or, for a
   * name without labels, the sum of all its samples; 0 when absent.
   */
  metric(sample: string): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A real gateway on a real loopback port, standalone wiring (ingest → local fan-out, unless `ingest` is
 * given). `membership` stands in for the cluster registry announcer: with `acknowledged`, the gateway
 * runs in cluster mode.
 */
export async function startGateway(
  env: Record<string, string> = {},
  deps: Pick<GatewayDeps, "membership" | "ingest"> = {},
): Promise<TestGateway> {
  const port = await freePort();
  const config = loadConfig({
    TIDINGS_PORT: String(port),
    TIDINGS_HOST: "127.0.0.1",
    TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET,
    ...env,
  });
  const registry = new Registry();
  const gateway: Gateway = createGateway({
    config,
    log: silentLogger(),
    nodeId: `test-${port}`,
    registry,
    ...deps,
    ingest:
      deps.ingest ??
      (async (notifications: readonly Notification[], traceHeaders) => {
        for (const n of notifications) gateway.deliver(n, traceHeaders);
      }),
  });
  await gateway.start();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    gateway,
    publish: (envelopes, headers = {}) =>
      fetch(`${url}/api/notifications`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(envelopes),
      }),
    async metric(sample) {
      const lines = (await registry.metrics()).split("\n");
      const matches = sample.includes("{")
        ? lines.filter((l) => l.startsWith(`${sample} `))
        : lines.filter((l) => l.startsWith(`${sample} `) || l.startsWith(`${sample}{`));
      return matches.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    },
    [Symbol.asyncDispose]: () => gateway.stop(0),
  };
}

let seq = 0;
/** A valid envelope for an audience; ids are unique per call. */
export function envelope(
  audienceType: number,
  audienceValue: string | undefined,
  extra: { type?: string; tenantId?: string; body?: unknown; id?: string } = {},
) {
  return {
    id: extra.id ?? `n-${process.pid}-${++seq}`,
    type: extra.type ?? "note",
    body: extra.body ?? { seq },
    routing: {
      audienceType,
      ...(audienceValue === undefined ? {} : { audienceValue }),
      ...(extra.tenantId === undefined ? {} : { tenantId: extra.tenantId }),
    },
    metadata: { producer: "tests" },
  };
}
