import type { HubConnection } from "@microsoft/signalr";
import { fc } from "@tidings/fuzzing";
import {
  buildClient,
  mintToken,
  sleep,
  startNats,
  startPostgres,
  TEST_JWT_SECRET,
  waitFor,
  type NatsServer,
  type PostgresServer,
} from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

/*
 * Tenant isolation as a property: fast-check generates users with tenant claims, their connections
 * spread over three gateway nodes (each subscribing to tenants and to groups whose names repeat
 * across tenants), and publishes of every audience type to random nodes. In a real cluster (nats-server
 * with JetStream, PostgreSQL, store service, router, three gateways as separate processes) no
 * connection may receive a notification outside its audiences, and the read API may list none outside
 * the user's; every notification within them does arrive, so the property cannot pass vacuously.
 */

const RUNS = 20;
const NODES = 3;
/** Start-up budget per process on a shared, loaded machine. */
const START_MS = 90_000;
const TENANTS = ["ta", "tb", "tc"] as const;
const GROUPS = ["g1", "g2"] as const;

let nats: NatsServer;
let pg: PostgresServer;
const procs: TidingsProcess[] = [];
const gateways: TidingsProcess[] = [];

beforeAll(async () => {
  [nats, pg] = await Promise.all([startNats({ jetstream: true }), startPostgres()]);
  const common = { TIDINGS_NATS_URL: nats.url, TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, TIDINGS_REGISTRY_HEARTBEAT_SECONDS: "1" };
  // Started side by side, each with a start-up budget for a busy machine (starting together makes each slower).
  procs.push(
    ...(await Promise.all([
      startTidings({ ...common, TIDINGS_ROLE: "store", TIDINGS_DATABASE_URL: pg.url }, "store service answering", START_MS),
      startTidings({ ...common, TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-iso" }, "router running", START_MS),
    ])),
  );
  gateways.push(
    ...(await Promise.all(
      Array.from({ length: NODES }, (_, i) =>
        startTidings(
          { ...common, TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: `gw-iso-${i}`, TIDINGS_DRAIN_SECONDS: "1" },
          "listening",
          START_MS,
        ),
      ),
    )),
  );
  procs.push(...gateways);
}, 3 * START_MS);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await nats?.stop();
  await pg?.stop();
}, 60_000);

type Tenant = (typeof TENANTS)[number];
type Group = (typeof GROUPS)[number];
type Subscription = { tenant: Tenant } | { group: Group; tenant: Tenant | null };
type Audience = { type: 1 } | { type: 2; tenant: Tenant } | { type: 3; group: Group; tenant: Tenant | null } | { type: 4; user: number };

const tenant = fc.constantFrom(...TENANTS);
const scenario = fc.record({
  /** Each user's tenant claim. */
  users: fc.array(fc.uniqueArray(tenant, { maxLength: 2 }), { minLength: 2, maxLength: 4 }),
  connections: fc.array(
    fc.record({
      user: fc.nat(),
      node: fc.nat({ max: NODES - 1 }),
      protocol: fc.constantFrom("json" as const, "messagepack" as const),
      subscriptions: fc.array(
        fc.oneof(
          tenant.map((t): Subscription => ({ tenant: t })),
          fc.record({ group: fc.constantFrom(...GROUPS), tenant: fc.option(tenant, { nil: null }) }),
        ),
        { maxLength: 3 },
      ),
    }),
    { minLength: 2, maxLength: 5 },
  ),
  publishes: fc.array(
    fc.record({
      audience: fc.oneof(
        fc.constant<Audience>({ type: 1 }),
        tenant.map((t): Audience => ({ type: 2, tenant: t })),
        fc
          .record({ group: fc.constantFrom(...GROUPS), tenant: fc.option(tenant, { nil: null }) })
          .map((g): Audience => ({ type: 3, ...g })),
        fc.nat().map((user): Audience => ({ type: 4, user })),
      ),
      node: fc.nat({ max: NODES - 1 }),
      persisted: fc.boolean(),
    }),
    { minLength: 1, maxLength: 8 },
  ),
});

interface Delivered {
  id: string;
  audienceId: string;
}

describe("tenant isolation across 3 gateway nodes (property)", () => {
  it("delivers and lists every notification exactly within its audience: tenant-scoped groups, users and tenants never cross", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        run++;
        // Names unique to this run: earlier runs' persisted notifications stay out of its audiences.
        const tenantName = (t: Tenant) => `r${run}${t}`;
        const userName = (u: number) => `r${run}-u${u % s.users.length}`;
        const groupName = (g: Group) => `r${run}${g}`;
        const claims = (u: number) => s.users[u % s.users.length]!.map(tenantName);
        const clients: Array<{ c: HubConnection; user: string; keys: Set<string>; got: Delivered[] }> = [];
        try {
          for (const spec of s.connections) {
            const user = userName(spec.user);
            const c = buildClient(gateways[spec.node]!.url, {
              protocol: spec.protocol,
              token: await mintToken({ sub: user, tenant_id: claims(spec.user) }),
            });
            const got: Delivered[] = [];
            c.on("note", (n: Delivered) => void got.push(n));
            await c.start();
            const keys = new Set(["global", `user:${user}`]);
            for (const sub of spec.subscriptions) {
              const scope = sub.tenant === null ? null : tenantName(sub.tenant);
              const allowed = scope === null || claims(spec.user).includes(scope);
              const arg =
                "group" in sub
                  ? { audienceType: 3, audienceValue: groupName(sub.group), tenantId: scope }
                  : { audienceType: 2, audienceValue: scope };
              const joined = c.invoke("Subscribe", arg);
              if (!allowed) {
                await expect(joined).rejects.toThrow(/HubException: Forbidden/u);
                continue;
              }
              await joined;
              keys.add(
                "group" in sub
                  ? scope === null
                    ? `group:${groupName(sub.group)}`
                    : `group:${scope}:${groupName(sub.group)}`
                  : `tenant:${scope}`,
              );
            }
            clients.push({ c, user, keys, got });
          }
          await sleep(300); // registry deltas reach the router

          const published: Array<{ id: string; key: string; persisted: boolean }> = [];
          for (const [i, p] of s.publishes.entries()) {
            const a = p.audience;
            const routing =
              a.type === 1
                ? { audienceType: 1 }
                : a.type === 2
                  ? { audienceType: 2, audienceValue: tenantName(a.tenant) }
                  : a.type === 3
                    ? {
                        audienceType: 3,
                        audienceValue: groupName(a.group),
                        ...(a.tenant === null ? {} : { tenantId: tenantName(a.tenant) }),
                      }
                    : { audienceType: 4, audienceValue: userName(a.user) };
            const key =
              a.type === 1
                ? "global"
                : a.type === 2
                  ? `tenant:${tenantName(a.tenant)}`
                  : a.type === 3
                    ? a.tenant === null
                      ? `group:${groupName(a.group)}`
                      : `group:${tenantName(a.tenant)}:${groupName(a.group)}`
                    : `user:${userName(a.user)}`;
            const id = `iso-${process.pid}-${run}-${i}`;
            const res = await fetch(`${gateways[p.node]!.url}/api/notifications`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({
                id,
                type: "note",
                body: { run },
                routing,
                metadata: { producer: "isolation", isPersisted: p.persisted },
              }),
            });
            expect(res.status).toBe(202);
            published.push({ id, key, persisted: p.persisted });
          }

          // Everything within a connection's audiences arrives ...
          for (const client of clients) {
            const due = published.filter((p) => client.keys.has(p.key)).map((p) => p.id);
            await waitFor(() => due.every((id) => client.got.some((n) => n.id === id)), 10_000, `${client.user}: ${due.join(", ")}`);
          }
          await sleep(200); // ... and a stray delivery would have arrived by now too
          for (const client of clients) {
            for (const n of client.got)
              expect(client.keys.has(n.audienceId), `${client.user} received ${n.id} of ${n.audienceId}`).toBe(true);
            const mine = published.filter((p) => client.keys.has(p.key)).map((p) => p.id);
            expect(
              client.got
                .filter((n) => n.id.startsWith(`iso-${process.pid}-${run}-`))
                .map((n) => n.id)
                .sort(),
            ).toEqual([...mine].sort());
          }

          // The read API lists only the user's audiences: Global, their own and the tenants asked for (producer) or claimed (user token).
          for (let u = 0; u < s.users.length; u++) {
            const user = userName(u);
            const readable = new Set(["global", `user:${user}`, ...claims(u).map((t) => `tenant:${t}`)]);
            const due = published.filter((p) => p.persisted && readable.has(p.key)).map((p) => p.id);
            const viaProducer = `${gateways[u % NODES]!.url}/api/users/${encodeURIComponent(user)}/notifications?limit=100&tenants=${claims(u).join(",")}`;
            const viaUser = `${gateways[(u + 1) % NODES]!.url}/api/me/notifications?limit=100`;
            const token = await mintToken({ sub: user, tenant_id: claims(u) });
            for (const [url, headers] of [
              [viaProducer, {}],
              [viaUser, { authorization: `Bearer ${token}` }],
            ] as const) {
              let items: Delivered[] = [];
              const deadline = Date.now() + 10_000;
              for (;;) {
                const res = await fetch(url, { headers });
                expect(res.status).toBe(200);
                items = ((await res.json()) as { items: Delivered[] }).items;
                if (due.every((id) => items.some((n) => n.id === id))) break;
                if (Date.now() > deadline) throw new Error(`read API of ${user} misses some of ${due.join(", ")}`);
                await sleep(50);
              }
              for (const n of items) expect(readable.has(n.audienceId), `${user} listed ${n.id} of ${n.audienceId}`).toBe(true);
            }
          }
        } finally {
          await Promise.all(clients.map((client) => client.c.stop()));
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 300_000);
});
