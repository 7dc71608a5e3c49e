import Redis from 'ioredis';
import { Socket, connect, createServer } from 'node:net';
import pino from 'pino';
import { describeBusContract, envelope } from '../src/bus/bus.contract';
import { keySlot } from '../src/bus/redis/key-slot';
import { projectChannel } from '../src/bus/redis/project-channel';
import { BusUnavailableError, RedisBus } from '../src/bus/redis/redis-bus';
import { Envelope } from '../src/domain/changes';
import { RedisConfig, RedisConnections } from '../src/engine/redis-connections';
import { RedisCluster, RedisServer } from './helpers/redis-server';
import { waitFor } from './helpers/wait-for';

const PREFIX = 'rt-bus:';

/** One replica's bus on its own connections; `close` releases them. */
async function openBus(config: Omit<RedisConfig, 'prefix' | 'claimIdleMs' | 'streamMaxLen'>, log?: pino.Logger) {
  const connections = new RedisConnections({ ...config, prefix: PREFIX, claimIdleMs: 30_000, streamMaxLen: 10_000 });
  // The command connection reports reconnect attempts here; without a listener ioredis prints them.
  connections.command.on('error', () => undefined);
  const bus = new RedisBus(connections, log);
  const received: Envelope[] = [];
  bus.onEnvelope((e) => received.push(e));
  await connections.ready(10_000); // the publishing connection
  await waitFor(() => bus.connected, { what: 'bus connected', timeoutMs: 10_000 });
  return { bus, connections, received, close: () => connections.close() };
}

/** Polls an async condition (a Redis query, a retried command) until it holds or the deadline passes. */
async function eventually<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Publishes, retrying while the publisher's connection is still coming back after an outage. */
async function publishWhenBack(bus: RedisBus, e: Envelope): Promise<void> {
  await eventually(() => bus.publish(e).then(() => true), `publish of ${e.projectId}#${e.seq}`);
}

/**
 * A TCP link to a local Redis that holds every client-to-server chunk for `delayMs` (in order), as a distant
 * replica would see it: a bus behind it gets its subscriptions confirmed late.
 */
async function delayedLink(targetPort: number, delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => setTimeout(() => upstream.destroyed || upstream.write(chunk), delayMs));
    upstream.on('data', (chunk) => client.destroyed || client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) s.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * An outage of one server: `end()` relaunches it on the same port, once; call it again from `finally`, so a
 * failed test does not leave the server down for the suite's cleanup.
 */
function outage(server: RedisServer): { begin(): Promise<void>; end(): Promise<void> } {
  let down = false;
  return {
    begin: async () => {
      down = true;
      await server.kill();
    },
    end: async () => {
      if (!down) return;
      down = false;
      await server.launch();
    },
  };
}

async function numsub(client: Redis, kind: 'NUMSUB' | 'SHARDNUMSUB', channel: string): Promise<number> {
  const reply = (await client.call('PUBSUB', kind, channel)) as [string, number];
  return Number(reply[1]);
}

describe('RedisBus on one redis-server', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start();
  });

  afterAll(async () => {
    await server.stop();
  });

  describeBusContract('redis', {
    single: async () => {
      const r = await openBus({ url: server.url });
      return { bus: r.bus, close: r.close };
    },
    pair: async () => {
      const [a, b] = await Promise.all([openBus({ url: server.url }), openBus({ url: server.url })]);
      return { a: a.bus, b: b.bus, close: async () => void (await Promise.all([a.close(), b.close()])) };
    },
  });

  it('subscribes a project channel while it is joined and unsubscribes it after the last leave', async () => {
    const r = await openBus({ url: server.url });
    const admin = new Redis(server.url);
    const channel = projectChannel(PREFIX, 'subscribed-p');
    try {
      expect(channel).toBe('rt-bus:p:{subscribed-p}');
      await Promise.all([r.bus.join('subscribed-p'), r.bus.join('subscribed-p')]);
      expect(await numsub(admin, 'NUMSUB', channel)).toBe(1);
      r.bus.leave('subscribed-p');
      r.bus.leave('subscribed-p');
      await eventually(async () => (await numsub(admin, 'NUMSUB', channel)) === 0, 'unsubscribe');
    } finally {
      admin.disconnect();
      await r.close();
    }
  });

  it('resolves join() only once Redis confirmed the subscription, even over a slow link', async () => {
    const link = await delayedLink(server.port, 50);
    const slow = await openBus({ url: link.url });
    const fast = await openBus({ url: server.url });
    try {
      for (const p of ['slow-1', 'slow-2', 'slow-3']) {
        await slow.bus.join(p);
        await fast.bus.publish(envelope(p, 1)); // reaches Redis at once, the subscribe took 50 ms to get there
      }
      await waitFor(() => slow.received.length === 3, { what: 'the three envelopes' });
      expect(slow.received.map((e) => e.projectId)).toEqual(['slow-1', 'slow-2', 'slow-3']);
    } finally {
      await Promise.all([slow.close(), fast.close()]);
      await link.close();
    }
  });

  it('logs and drops a malformed message, survives a failing handler, and keeps delivering', async () => {
    const logs: Array<{ level: number; msg: string }> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const r = await openBus({ url: server.url }, log);
    r.bus.onEnvelope(() => {
      throw new Error('handler bug');
    });
    const after: Envelope[] = [];
    r.bus.onEnvelope((e) => after.push(e));
    const admin = new Redis(server.url);
    try {
      await r.bus.join('malformed-p');
      const channel = projectChannel(PREFIX, 'malformed-p');
      await admin.publish(channel, 'not json');
      await admin.publish(channel, JSON.stringify(envelope('another-project', 1))); // not this channel's project
      await admin.publish(channel, JSON.stringify({ projectId: 'malformed-p', seq: 'x' }));
      const valid = envelope('malformed-p', 7);
      await r.bus.publish(valid);
      await waitFor(() => r.received.length > 0, { what: 'the valid envelope' });
      expect(r.received).toEqual([valid]);
      expect(after).toEqual([valid]); // the handler registered after the failing one still got it
      expect(logs.filter((l) => l.msg === 'malformed bus message dropped')).toHaveLength(3);
      expect(logs.filter((l) => l.msg === 'envelope handler failed')).toHaveLength(1);
      expect(JSON.stringify(logs)).not.toContain('not json'); // never the message text

      await r.bus.publish(envelope('malformed-p', 8));
      await waitFor(() => r.received.length === 2, { what: 'the next envelope' });
    } finally {
      admin.disconnect();
      await r.close();
    }
  });
});

describe('RedisBus across a Redis outage', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start();
  });

  afterAll(async () => {
    await server.stop();
  });

  it('reports the outage and resumes the channels joined before it, with no caller action', async () => {
    const receiver = await openBus({ url: server.url });
    const publisher = await openBus({ url: server.url });
    const rejoined: string[][] = [];
    receiver.bus.onRejoined((ids) => rejoined.push([...ids]));
    const redisOutage = outage(server);
    try {
      await receiver.bus.join('outage-p');
      await publisher.bus.publish(envelope('outage-p', 1));
      await waitFor(() => receiver.received.length === 1, { what: 'delivery before the outage' });

      await redisOutage.begin();
      await waitFor(() => !receiver.bus.connected, { what: 'connected false' });
      await expect(receiver.bus.join('outage-q')).rejects.toBeInstanceOf(BusUnavailableError);
      receiver.bus.leave('outage-q'); // a rejected join is still matched by a leave
      await expect(publisher.bus.publish(envelope('outage-p', 2))).rejects.toThrow();

      await redisOutage.end();
      await waitFor(() => receiver.bus.connected, { what: 'connected true again', timeoutMs: 10_000 });
      await waitFor(() => rejoined.length > 0, { what: 'rejoined reported' });
      expect(rejoined).toEqual([['outage-p']]); // not outage-q: its join was left
      await publishWhenBack(publisher.bus, envelope('outage-p', 3));
      await waitFor(() => receiver.received.some((e) => e.seq === 3), { what: 'delivery after the restart' });
      expect(receiver.received.map((e) => e.seq)).toEqual([1, 3]);

      const admin = new Redis(server.url);
      try {
        expect(await numsub(admin, 'NUMSUB', projectChannel(PREFIX, 'outage-p'))).toBe(1);
        expect(await numsub(admin, 'NUMSUB', projectChannel(PREFIX, 'outage-q'))).toBe(0);
      } finally {
        admin.disconnect();
      }
    } finally {
      await redisOutage.end();
      await Promise.all([receiver.close(), publisher.close()]);
    }
  });

  it('subscribes by itself after the outage a project whose join failed and was not left', async () => {
    const receiver = await openBus({ url: server.url });
    const publisher = await openBus({ url: server.url });
    const redisOutage = outage(server);
    try {
      await redisOutage.begin();
      await waitFor(() => !receiver.bus.connected, { what: 'connected false' });
      await expect(receiver.bus.join('outage-r')).rejects.toBeInstanceOf(BusUnavailableError);
      await redisOutage.end();
      await waitFor(() => receiver.bus.connected, { what: 'connected true again', timeoutMs: 10_000 });
      await publishWhenBack(publisher.bus, envelope('outage-r', 1));
      await waitFor(() => receiver.received.length === 1, { what: 'delivery of the project joined during the outage' });
      receiver.bus.leave('outage-r');
    } finally {
      await redisOutage.end();
      await Promise.all([receiver.close(), publisher.close()]);
    }
  });
});

describe('RedisBus on a 3-master cluster (sharded pub/sub)', () => {
  let cluster: RedisCluster;

  beforeAll(async () => {
    cluster = await RedisCluster.start();
  }, 60_000);

  afterAll(async () => {
    await cluster.stop();
  });

  const config = () => ({ clusterNodes: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })) });

  /** Master port owning each slot, from CLUSTER SLOTS. */
  async function slotOwners(): Promise<(slot: number) => number> {
    const admin = new Redis(cluster.nodes[0]!.port, '127.0.0.1');
    try {
      const ranges = (await admin.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]]]>;
      return (slot) => ranges.find(([from, to]) => slot >= from && slot <= to)![2][1];
    } finally {
      admin.disconnect();
    }
  }

  /** Project ids whose channels hash to one slot, so one publisher's order holds across them (see the contract). */
  const sameSlot = (base: string, count: number): string[] => {
    const slot = keySlot(projectChannel(PREFIX, `${base}-0`));
    const ids: string[] = [];
    for (let i = 0; ids.length < count; i++) if (keySlot(projectChannel(PREFIX, `${base}-${i}`)) === slot) ids.push(`${base}-${i}`);
    return ids;
  };

  describeBusContract('redis cluster', {
    single: async () => {
      const r = await openBus(config());
      return { bus: r.bus, close: r.close };
    },
    pair: async () => {
      const [a, b] = await Promise.all([openBus(config()), openBus(config())]);
      return { a: a.bus, b: b.bus, close: async () => void (await Promise.all([a.close(), b.close()])) };
    },
    projectIds: sameSlot,
  });

  it('delivers the projects of every shard, each subscribed with SSUBSCRIBE on the master that owns it', async () => {
    const owner = await slotOwners();
    const byPort = new Map<number, string[]>();
    for (let i = 0; [...byPort.values()].filter((ids) => ids.length >= 2).length < 3; i++) {
      const id = `shard-${i}`;
      const port = owner(keySlot(projectChannel(PREFIX, id)));
      byPort.set(port, [...(byPort.get(port) ?? []), id]);
    }
    const projects = [...byPort.values()].flatMap((ids) => ids.slice(0, 2));
    expect(new Set(projects.map((p) => owner(keySlot(projectChannel(PREFIX, p))))).size).toBe(3);

    const a = await openBus(config());
    const b = await openBus(config());
    const admins = new Map(cluster.nodes.map((n) => [n.port, new Redis(n.port, '127.0.0.1')]));
    try {
      await Promise.all(projects.map((p) => b.bus.join(p)));
      for (const p of projects) {
        const channel = projectChannel(PREFIX, p);
        const admin = admins.get(owner(keySlot(channel)))!;
        expect(Number(await admin.call('CLUSTER', 'KEYSLOT', channel))).toBe(keySlot(channel));
        expect(await numsub(admin, 'SHARDNUMSUB', channel)).toBe(1);
        expect(await numsub(admin, 'NUMSUB', channel)).toBe(0);
      }
      for (const [i, p] of projects.entries()) await a.bus.publish(envelope(p, i + 1));
      await waitFor(() => b.received.length === projects.length, { what: 'an envelope of every shard' });
      expect(b.received.map((e) => e.projectId).sort()).toEqual([...projects].sort());
      expect(a.received).toEqual([]);

      for (const p of projects) b.bus.leave(p);
      for (const p of projects) {
        const channel = projectChannel(PREFIX, p);
        const admin = admins.get(owner(keySlot(channel)))!;
        await eventually(async () => (await numsub(admin, 'SHARDNUMSUB', channel)) === 0, `sunsubscribe of ${p}`);
      }
    } finally {
      for (const admin of admins.values()) admin.disconnect();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('resumes the channels of a shard whose master restarted, while the other shards keep delivering', async () => {
    const owner = await slotOwners();
    const victim = cluster.nodes[1]!;
    const ownedBy = (id: string) => owner(keySlot(projectChannel(PREFIX, id)));
    const ids = Array.from({ length: 200 }, (_, i) => `restart-${i}`);
    const [downDuringJoin, ...onVictim] = ids.filter((id) => ownedBy(id) === victim.port).slice(0, 4) as [string, ...string[]];
    const elsewhere = ids.find((id) => ownedBy(id) !== victim.port)!;
    const shardOutage = outage(victim);

    const receiver = await openBus(config());
    const publisher = await openBus(config());
    const admin = new Redis(victim.port, '127.0.0.1', { lazyConnect: true });
    const rejoined: string[] = [];
    receiver.bus.onRejoined((ids) => rejoined.push(...ids));
    try {
      await Promise.all([...onVictim, elsewhere].map((p) => receiver.bus.join(p)));

      await shardOutage.begin();
      await waitFor(() => !receiver.bus.connected, { what: 'connected false' });
      await publisher.bus.publish(envelope(elsewhere, 1));
      await waitFor(() => receiver.received.some((e) => e.projectId === elsewhere), { what: 'delivery from a live shard' });
      await expect(receiver.bus.join(downDuringJoin)).rejects.toThrow();
      receiver.bus.leave(downDuringJoin);

      await shardOutage.end();
      await waitFor(() => receiver.bus.connected, { what: 'connected true again', timeoutMs: 15_000 });
      await waitFor(() => rejoined.length > 0, { what: 'rejoined reported' });
      expect(rejoined.sort()).toEqual([...onVictim].sort()); // the live shard's channel never lost its subscription
      for (const p of onVictim) await publishWhenBack(publisher.bus, envelope(p, 1));
      await waitFor(() => onVictim.every((p) => receiver.received.some((e) => e.projectId === p)), {
        what: 'delivery from the restarted shard',
      });

      await admin.connect();
      for (const p of onVictim) expect(await numsub(admin, 'SHARDNUMSUB', projectChannel(PREFIX, p))).toBe(1);
      await eventually(
        async () => (await numsub(admin, 'SHARDNUMSUB', projectChannel(PREFIX, downDuringJoin))) === 0,
        'no subscription left for the join that failed',
      );
    } finally {
      admin.disconnect();
      await shardOutage.end();
      await Promise.all([receiver.close(), publisher.close()]);
    }
  }, 60_000);
});
