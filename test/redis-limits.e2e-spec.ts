import { randomUUID } from 'node:crypto';
import { RedisConnections } from '../src/engine/redis-connections';
import { ConnectionLimitValues } from '../src/limits/connection-limits';
import { CONTRACT_LIMITS, describeConnectionLimitsContract } from '../src/limits/connection-limits.contract';
import { RedisConnectionLimits } from '../src/limits/redis/redis-connection-limits';
import { RedisCluster, RedisServer } from './helpers/redis-server';

/** The ConnectionLimits contract and the lease rules, against a real redis-server and a real 3-master cluster. */

const LEASE_MS = 30_000;

let server: RedisServer;
let connections: RedisConnections;
beforeAll(async () => {
  server = await RedisServer.start();
  connections = await server.connections();
});
afterAll(async () => {
  await connections.close();
  await server.stop();
});

describeConnectionLimitsContract(
  'RedisConnectionLimits (single redis-server)',
  (values, now) => new RedisConnectionLimits(connections, { values, leaseMs: LEASE_MS, now }),
);

describe('RedisConnectionLimits: one count for every replica, places as leases', () => {
  let clock = 5_000_000;
  const made: RedisConnectionLimits[] = [];
  /** A replica's limits: its own instance (own local places), the shared Redis. */
  const replica = (values: Partial<ConnectionLimitValues> = {}) => {
    const l = new RedisConnectionLimits(connections, {
      values: { ...CONTRACT_LIMITS, connPerUserPerMin: 1000, ...values },
      leaseMs: LEASE_MS,
      now: () => clock,
    });
    made.push(l);
    return l;
  };
  afterEach(() => {
    for (const l of made.splice(0)) l.close();
  });
  const ticket = (userId: string) => ({ connId: randomUUID(), userId, ip: `ip-${randomUUID()}` });

  it('counts a user’s connections on every replica against one cap', async () => {
    const [a, b] = [replica(), replica()];
    const user = `u-${randomUUID()}`;
    expect((await a.admit(ticket(user))).ok).toBe(true);
    expect((await b.admit(ticket(user))).ok).toBe(true);
    expect((await a.admit(ticket(user))).ok).toBe(true);
    expect(await b.admit(ticket(user))).toMatchObject({ ok: false, limit: 'MAX_CONN_PER_USER', max: 3, retryAfterMs: LEASE_MS });
  });

  it('frees the places of a replica that stopped renewing (died) once their lease ends, with no cleanup', async () => {
    const dead = replica();
    const alive = replica();
    const user = `u-${randomUUID()}`;
    const project = `p-${randomUUID()}`;
    for (let i = 0; i < 3; i++) expect((await dead.admit(ticket(user))).ok).toBe(true);
    expect(await dead.joinProject('c1', project)).toBe(true);
    expect(await dead.joinProject('c2', project)).toBe(true);
    dead.close(); // no renewal from here on, and nothing released: a SIGKILL
    clock += LEASE_MS - 1;
    expect((await alive.admit(ticket(user))).ok).toBe(false);
    expect(await alive.joinProject('c3', project)).toBe(false);
    clock += 2;
    expect((await alive.admit(ticket(user))).ok).toBe(true);
    expect(await alive.joinProject('c3', project)).toBe(true);
  });

  it('keeps the places of a live replica past the first lease by renewing them', async () => {
    const a = replica();
    const b = replica();
    const user = `u-${randomUUID()}`;
    const project = `p-${randomUUID()}`;
    for (let i = 0; i < 3; i++) expect((await a.admit(ticket(user))).ok).toBe(true);
    expect(await a.joinProject('c1', project)).toBe(true);
    expect(await a.joinProject('c2', project)).toBe(true);
    for (let i = 0; i < 4; i++) {
      clock += LEASE_MS / 2;
      await a.renew();
    }
    expect((await b.admit(ticket(user))).ok).toBe(false);
    expect(await b.joinProject('c3', project)).toBe(false);
  });

  it('puts its places back after Redis lost them, and never brings back a released one', async () => {
    const a = replica();
    const b = replica();
    const user = `u-${randomUUID()}`;
    const kept = [ticket(user), ticket(user)];
    const released = ticket(user);
    for (const t of [...kept, released]) expect((await a.admit(t)).ok).toBe(true);
    a.release(released.connId, user);
    await connections.command.del(a.userConnsKey(user));
    expect((await b.admit(ticket(user))).ok).toBe(true); // Redis forgot a's two places
    await a.renew();
    expect(await connections.command.zrange(a.userConnsKey(user), 0, -1)).toEqual(expect.arrayContaining(kept.map((t) => t.connId)));
    expect(await connections.command.zscore(a.userConnsKey(user), released.connId)).toBeNull();
    expect((await b.admit(ticket(user))).ok).toBe(false); // 2 of a + 1 of b
  });

  it('leaves no key behind once every place is released and every window has passed', async () => {
    const a = replica();
    const user = `u-${randomUUID()}`;
    const project = `p-${randomUUID()}`;
    const t = ticket(user);
    expect((await a.admit(t)).ok).toBe(true);
    expect(await a.joinProject(t.connId, project)).toBe(true);
    a.leaveProject(t.connId, project);
    a.release(t.connId, user);
    await connections.command.ping(); // the releases were sent before this answer
    expect(await connections.command.zcard(a.userConnsKey(user))).toBe(0);
    expect(await connections.command.zcard(a.projectConnsKey(project))).toBe(0);
    // The rate windows expire by themselves (PEXPIRE of one window).
    expect(await connections.command.pttl(a.userRateKey(user))).toBeGreaterThan(0);
    expect(await connections.command.pttl(a.userRateKey(user))).toBeLessThanOrEqual(60_000);
  });
});

describe('on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let clusterConnections: RedisConnections;
  beforeAll(async () => {
    cluster = await RedisCluster.start();
    clusterConnections = await cluster.connections();
  });
  afterAll(async () => {
    await clusterConnections.close();
    await cluster.stop();
  });
  describeConnectionLimitsContract(
    'RedisConnectionLimits (cluster)',
    (values, now) => new RedisConnectionLimits(clusterConnections, { values, leaseMs: LEASE_MS, now }),
  );
});
