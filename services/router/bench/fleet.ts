/**
 * The simulated fleet the router benches route over: BENCH_KEYS audience keys (default 1,000,000) on
 * BENCH_NODES gateway nodes (default 100), built the same way on every run.
 */
export const KEYS = Number(process.env["BENCH_KEYS"] ?? 1_000_000);
export const NODES = Number(process.env["BENCH_NODES"] ?? 100);

/** Deterministic pseudo-random numbers (xorshift32), so every run builds the same fleet. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

export const nodeIds = Array.from({ length: NODES }, (_, i) => `gw-${i.toString(36).padStart(3, "0")}-a1b2c3`);

/**
 * The simulated fleet: 90 % user keys (85 % of users on one node, 15 % on two: a second device),
 * 9 % group keys on 1–8 nodes, 1 % tenant keys on 5–40 nodes. Keys are built as fresh strings, the
 * way a snapshot's JSON parse creates them.
 */
export function buildFleet(): { perNode: string[][]; memberships: number } {
  const random = rng(42);
  const perNode: string[][] = nodeIds.map(() => []);
  let memberships = 0;
  const place = (key: string, copies: number) => {
    const first = Math.floor(random() * NODES);
    for (let c = 0; c < copies; c++) perNode[(first + c * 7) % NODES]!.push(c === 0 ? key : (JSON.parse(JSON.stringify(key)) as string));
    memberships += copies;
  };
  const users = Math.floor(KEYS * 0.9);
  const groups = Math.floor(KEYS * 0.09);
  const tenants = KEYS - users - groups;
  for (let i = 0; i < users; i++) place(`user:${(1_000_000_007 + i * 7919).toString(36)}-${i}`, random() < 0.15 ? 2 : 1);
  for (let i = 0; i < groups; i++) place(`group:team-${i}`, 1 + Math.floor(random() * 8));
  for (let i = 0; i < tenants; i++) place(`tenant:t${i}`, 5 + Math.floor(random() * 36));
  return { perNode, memberships };
}

/** The envelope both router benches publish: `invoice-ready` number `i` to the audience of registry key `key`. */
export function benchEnvelope(id: string, i: number, key: string, persisted = false): Record<string, unknown> {
  const [audienceType, audienceValue] =
    key === "global"
      ? [1, "global"]
      : key.startsWith("user:")
        ? [4, key.slice(5)]
        : key.startsWith("group:")
          ? [3, key.slice(6)]
          : [2, key.slice(7)];
  return {
    id,
    type: "invoice-ready",
    body: { invoiceId: `INV-${i}`, amount: 149.99, currency: "USD" },
    routing: { audienceType, audienceValue },
    metadata: { producer: "billing-service", ...(persisted ? { isPersisted: true } : {}) },
  };
}
