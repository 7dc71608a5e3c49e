import Redis from 'ioredis';
import { keySlot } from '../src/bus/redis/key-slot';
import { RedisConnections } from '../src/engine/redis-connections';
import { describeMetricsContract, stripTimes } from '../src/analytics/metrics.contract';
import { CONTRACT_OPTIONS, describeReadModelContract } from '../src/store/read-model.contract';
import { RedisReadModel } from '../src/store/redis/redis-read-model';
import { DEFAULT_METRICS_SETTINGS } from '../src/analytics/project-metrics';
import { validateEnvelope } from '../src/ingest/event-validation';
import { parseTopic } from '../src/protocol/topic-grammar';
import * as f from './helpers/factories';
import { RedisCluster, RedisServer } from './helpers/redis-server';
import { until, waitFor } from './helpers/wait-for';

/** The ReadModel contract, against a real redis-server and a real 3-master cluster. */

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

describeReadModelContract(
  'RedisReadModel (single redis-server)',
  (opts) => new RedisReadModel(connections, { ...opts, channel: (p) => `rt:p:{${p}}` }),
);
describeMetricsContract(
  'RedisReadModel (single redis-server)',
  (opts) => new RedisReadModel(connections, { ...opts, channel: (p) => `rt:p:{${p}}` }),
);

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
  describeReadModelContract(
    'RedisReadModel (cluster)',
    (opts) => new RedisReadModel(clusterConnections, { ...opts, channel: (p) => `rt:p:{${p}}` }),
  );
  describeMetricsContract(
    'RedisReadModel (cluster)',
    (opts) => new RedisReadModel(clusterConnections, { ...opts, channel: (p) => `rt:p:{${p}}` }),
  );

  /** The master serving a slot, from CLUSTER SLOTS. */
  async function ownerOf(slot: number): Promise<number> {
    const slots = await clusterConnections.command.cluster('SLOTS');
    const [, , master] = slots.find(([from, to]) => slot >= from && slot <= to)!;
    return master![1];
  }

  /** Moves one slot, keys and all, to another master (what a reshard does, one slot at a time). */
  async function moveSlot(slot: number, to: number): Promise<void> {
    const src = new Redis(await ownerOf(slot), '127.0.0.1');
    const dst = new Redis(to, '127.0.0.1');
    try {
      const [srcId, dstId] = [await src.cluster('MYID'), await dst.cluster('MYID')];
      await dst.cluster('SETSLOT', slot, 'IMPORTING', srcId);
      await src.cluster('SETSLOT', slot, 'MIGRATING', dstId);
      for (;;) {
        const keys = await src.cluster('GETKEYSINSLOT', slot, 100);
        if (keys.length === 0) break;
        await src.migrate('127.0.0.1', to, '', 0, 5000, 'KEYS', ...keys);
      }
      for (const n of cluster.nodes) {
        const c = new Redis(n.port, '127.0.0.1');
        await c.cluster('SETSLOT', slot, 'NODE', dstId);
        c.disconnect();
      }
    } finally {
      src.disconnect();
      dst.disconnect();
    }
  }

  it('keeps applying and answering subscribes after a project moves to another master', async () => {
    const model = new RedisReadModel(clusterConnections, { ...CONTRACT_OPTIONS, channel: (p) => `rt:p:{${p}}` });
    const apply = (raw: { type: string; data: Record<string, unknown> }) =>
      model.apply(validateEnvelope(raw, 0, { maxEventBytes: 1 << 20 }).event, Date.now());
    const slotOf = (p: string) => keySlot(`rt:{${p}}:seq`);
    // Two projects on one master; then one of them moves while the replica's slot map is still the old one.
    const moving = `moving-${Date.now()}`;
    const home = await ownerOf(slotOf(moving));
    let staying = '';
    for (let i = 0; !staying; i++) {
      const candidate = `${moving}-s${i}`;
      if (slotOf(candidate) !== slotOf(moving) && (await ownerOf(slotOf(candidate))) === home) staying = candidate;
    }
    const request = f.request(moving, 'r1');
    for (const p of [moving, staying]) {
      await apply({ type: 'project_user.update', data: f.projectUser(p, 'o1', 'owner') });
      await apply({ type: 'request.create', data: p === moving ? request : f.request(p, 'r1') });
    }
    await moveSlot(
      slotOf(moving),
      cluster.nodes.map((n) => n.port).find((port) => port !== home)!,
    );
    for (let round = 1; round <= 5; round++) {
      // A subscribe read of the project that stayed and an apply of the one that moved, in the same tick.
      const [read, applied] = await Promise.all([
        model.readForSubscribe(parseTopic(`/${staying}/requests`)!, 'o1'),
        apply({ type: 'request.update', data: { ...request, updatedAt: f.nextTime() } }),
      ]);
      expect(read.requests!.map((r) => r.request_id)).toEqual(['r1']);
      expect(applied.outcome).toBe('applied');
    }
    expect((await model.readForSubscribe(parseTopic(`/${moving}/requests`)!, 'o1')).seq).toBe(7);
  });
});

describe('RedisReadModel: what stays in Redis', () => {
  it('frees expired events from both the index and the documents, and stores any JSON string as is', async () => {
    let clock = Date.now();
    const model = new RedisReadModel(connections, {
      history: { requests: 5, messages: 5, events: 5 },
      closedRequestTtlS: 60,
      eventsTtlS: 10,
      dedupeTtlS: 60,
      channel: (p) => `rt:p:{${p}}`,
      now: () => clock,
    });
    const P = `leak-${Date.now()}`;
    const apply = (raw: { type: string; data: Record<string, unknown> }) =>
      model.apply(validateEnvelope(raw, 0, { maxEventBytes: 1 << 20 }).event, clock);
    for (let i = 0; i < 4; i++)
      await apply({ type: 'event.emit', data: f.event(P, 'pu1', 'typing', { _id: `old${i}`, createdAt: new Date(clock).toISOString() }) });
    clock += 60_000; // the four are now past EVENTS_TTL_S
    await apply({ type: 'event.emit', data: f.event(P, 'pu1', 'typing', { _id: 'new', createdAt: new Date(clock).toISOString() }) });
    const redis = connections.command;
    expect(await redis.hkeys(`rt:{${P}}:ev:pu1:typing`)).toEqual(['new']);
    expect(await redis.zrange(`rt:{${P}}:evz:pu1:typing`, 0, -1)).toEqual(['new']);
    // a lone surrogate (a string cut inside an emoji) is valid JSON text: it must not break the commit
    const r = await apply({ type: 'message.create', data: f.message(P, 'req-1', { _id: 'm-cut', text: 'cut \ud83d' }) });
    expect(r.outcome).toBe('applied');
  });
});

describe('RedisReadModel: metrics of documents stored without them', () => {
  it('rebuilds the metrics state from the documents once, before the next metrics read or write, then keeps it up as usual', async () => {
    const model = new RedisReadModel(connections, {
      history: { requests: 5, messages: 5, events: 5 },
      closedRequestTtlS: 600,
      eventsTtlS: 600,
      dedupeTtlS: 60,
      channel: (p) => `rt:p:{${p}}`,
    });
    const P = `rebuild-${Date.now()}`;
    const apply = (raw: { type: string; data: Record<string, unknown> }) =>
      model.apply(validateEnvelope(raw, 0, { maxEventBytes: 1 << 20 }).event, Date.now());
    await apply({ type: 'project.update', data: f.project(P) });
    await apply({ type: 'project_user.create', data: f.projectUser(P, 'a1', 'agent', { number_assigned_requests: 1 }) });
    for (const [id, status] of [
      ['w1', 100],
      ['w2', 100],
      ['as', 200],
      ['cl', 1000],
    ] as const)
      await apply({
        type: 'request.create',
        data: f.request(P, id, { status, first_response_at: status === 100 ? undefined : f.nextTime() }),
      });
    const before = (await model.readMetrics(P)).metrics;
    expect(before.requests).toMatchObject({ open: 3, unassigned: 2 });

    // As a version of the service without metrics would have left it: documents, no mx keys.
    const redis = connections.command;
    await redis.del(...['mx', 'mx:wait', 'mx:arr', 'mx:cls', 'mx:hdl', 'mx:frt', 'mx:frd'].map((k) => `rt:{${P}}:${k}`));
    expect(stripTimes((await model.readMetrics(P)).metrics)).toEqual(stripTimes(before));

    // And a write to such a project rebuilds first: an assignment must not drive `unassigned` below the truth.
    await redis.del(...['mx', 'mx:wait', 'mx:arr', 'mx:cls', 'mx:hdl', 'mx:frt', 'mx:frd'].map((k) => `rt:{${P}}:${k}`));
    await apply({ type: 'request.update', data: f.request(P, 'w1', { status: 200 }) });
    expect(await redis.hmget(`rt:{${P}}:mx`, 'v', 'open', 'unassigned', 'assigned')).toEqual(['1', '3', '1', '2']);
    expect((await model.readMetrics(P)).metrics.requests).toMatchObject({ open: 3, unassigned: 1, assigned: 2 });
  });
});

describe('RedisReadModel: metrics windows stay bounded', () => {
  it('the sweep drops what left the windows of a project nobody reads the metrics of', async () => {
    const model = new RedisReadModel(connections, {
      history: { requests: 5, messages: 5, events: 5 },
      closedRequestTtlS: 600,
      eventsTtlS: 600,
      dedupeTtlS: 60,
      metrics: { ...DEFAULT_METRICS_SETTINGS, windowS: 60 },
      channel: (p) => `rt:p:{${p}}`,
    });
    const P = `mx-sweep-${Date.now()}`;
    // Inside the 60 s window for a few hundred milliseconds more.
    const createdAt = new Date(Date.now() - 59_700).toISOString();
    await model.apply(
      validateEnvelope({ type: 'request.create', data: f.request(P, 'r1', { status: 100, createdAt }) }, 0, { maxEventBytes: 1 << 20 })
        .event,
      Date.now(),
    );
    const redis = connections.command;
    expect(await redis.zcard(`rt:{${P}}:mx:arr`)).toBe(1);
    await until(async () => {
      await model.sweep();
      return (await redis.zcard(`rt:{${P}}:mx:arr`)) === 0;
    }, 'the sweep to drop the arrival');
    // The waiting request itself stays counted: only the flow window moved on.
    expect(await redis.hget(`rt:{${P}}:mx`, 'unassigned')).toBe('1');
  });
});

describe('RedisReadModel: delete tombstones in Redis', () => {
  it('keeps them in tomb and tombz under every id of the deleted document, drops one when a newer create applies, sweeps expired ones', async () => {
    let clock = Date.now();
    const model = new RedisReadModel(connections, {
      history: { requests: 5, messages: 5, events: 5 },
      closedRequestTtlS: 86_400,
      eventsTtlS: 60,
      dedupeTtlS: 60,
      tombstoneTtlS: 120,
      channel: (p) => `rt:p:{${p}}`,
      now: () => clock,
    });
    const P = `tomb-${Date.now()}`;
    const apply = (raw: { type: string; data: Record<string, unknown> }, acceptedAt = clock) =>
      model.apply(validateEnvelope(raw, 0, { maxEventBytes: 1 << 20 }).event, acceptedAt);
    const redis = connections.command;
    const tomb = async () => redis.hgetall(`rt:{${P}}:tomb`);
    const tombz = async () => redis.zrange(`rt:{${P}}:tombz`, 0, -1, 'WITHSCORES');
    const T0 = clock;

    await apply({ type: 'request.create', data: f.request(P, 'r1', { updatedAt: new Date(T0 - 1000).toISOString() }) });
    await apply({ type: 'request.delete', data: { request_id: 'r1', id_project: P } });
    expect(await apply({ type: 'project_user.delete', data: { _id: 'pu-x', id_project: P } })).toEqual({ outcome: 'duplicate' });
    expect(await tomb()).toEqual({ 'r:r1': String(T0), 'o:oid-r1': String(T0), 'pu:pu-x': String(T0) });
    expect((await tombz()).filter((_, i) => i % 2 === 1)).toEqual([String(T0), String(T0), String(T0)]);

    // a newer create: applied, and the request's tombstones go
    clock += 10_000;
    await apply({ type: 'request.create', data: f.request(P, 'r1', { updatedAt: new Date(T0 + 1).toISOString() }) });
    expect(await tomb()).toEqual({ 'pu:pu-x': String(T0) });

    // not expired yet: the sweep keeps it
    clock = T0 + 119_999;
    await model.sweep();
    expect(await tomb()).toEqual({ 'pu:pu-x': String(T0) });
    clock = T0 + 120_000;
    await model.sweep();
    expect(await redis.exists(`rt:{${P}}:tomb`, `rt:{${P}}:tombz`)).toBe(0);
  });

  it('a project that only ever had deletes of unknown documents is swept too', async () => {
    let clock = Date.now();
    await withOwnRedis(
      () => clock,
      async ({ model, conns, apply }) => {
        const P = 'only-deletes';
        await apply({ type: 'request.delete', data: { _id: 'oid-1', id_project: P } });
        expect(await conns.command.hkeys(`rt:{${P}}:tomb`)).toEqual(['o:oid-1']);
        clock += 61_000; // withOwnRedis: closedRequestTtlS 60, the tombstones' default
        await model.sweep();
        expect(await conns.command.exists(`rt:{${P}}:tomb`, `rt:{${P}}:tombz`)).toBe(0);
      },
    );
  });
});

describe('RedisReadModel: a failover under way', () => {
  it('answers a write refused by a read-only replica as the engine unavailable (retried), not as a bad event', async () => {
    const primary = await RedisServer.start();
    const replica = await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    const conns = new RedisConnections({ url: replica.url, prefix: 'rt:', claimIdleMs: 30000, streamMaxLen: 1000 });
    try {
      await conns.ready();
      const model = new RedisReadModel(conns, { ...CONTRACT_OPTIONS, channel: (p) => `rt:p:{${p}}` });
      const event = validateEnvelope({ type: 'request.create', data: f.request('ro', 'r1') }, 0, { maxEventBytes: 1 << 20 }).event;
      const failure = await model.apply(event, Date.now()).then(
        () => null,
        (err: unknown) => err as Error,
      );
      expect(failure?.name).toBe('EngineUnavailableError');
      expect(failure?.message).toMatch(/READONLY/);
    } finally {
      await conns.close();
      await replica.stop();
      await primary.stop();
    }
  });
});

type Raw = { type: string; data: Record<string, unknown> };

/** A RedisReadModel on a redis-server of its own (stopped afterwards), reading time from `now`. */
async function withOwnRedis(
  now: () => number,
  body: (ctx: {
    model: RedisReadModel;
    conns: RedisConnections;
    server: RedisServer;
    apply: (raw: Raw) => Promise<unknown>;
  }) => Promise<void>,
): Promise<void> {
  const server = await RedisServer.start();
  const conns = new RedisConnections({ url: server.url, prefix: 'rt:', claimIdleMs: 30000, streamMaxLen: 1000 });
  try {
    await conns.ready();
    const model = new RedisReadModel(conns, {
      history: { requests: 5, messages: 5, events: 5 },
      closedRequestTtlS: 60,
      eventsTtlS: 60,
      dedupeTtlS: 60,
      channel: (p) => `rt:p:{${p}}`,
      now,
    });
    const apply = (raw: Raw) => model.apply(validateEnvelope(raw, 0, { maxEventBytes: 1 << 20 }).event, now());
    await body({ model, conns, server, apply });
  } finally {
    await conns.close();
    await server.stop();
  }
}

describe('RedisReadModel: Redis restarted empty or flushed', () => {
  // The clock stands still, so that the shared list's one-second lifetime cannot be what keeps the answers right.
  const frozen = Date.now();

  async function scenario(wipe: (server: RedisServer, conns: RedisConnections) => Promise<void>): Promise<void> {
    await withOwnRedis(
      () => frozen,
      async ({ model, conns, server, apply }) => {
        const P = 'wiped';
        const topic = parseTopic(`/${P}/requests`)!;
        const listed = async () => ((await model.readForSubscribe(topic, 'owner')).requests ?? []).map((r) => r.request_id);
        await apply({ type: 'project_user.update', data: f.projectUser(P, 'owner', 'owner') });
        await apply({ type: 'request.create', data: f.request(P, 'before') });
        expect(await listed()).toEqual(['before']); // seq 2, kept for the next readers
        expect(await listed()).toEqual(['before']); // ... and answered from there
        await wipe(server, conns);
        await apply({ type: 'project_user.update', data: f.projectUser(P, 'owner', 'owner') });
        await apply({ type: 'request.create', data: f.request(P, 'after') });
        expect((await model.readForSubscribe(topic, 'owner')).seq).toBe(2);
        expect(await listed()).toEqual(['after']);
      },
    );
  }

  it('never answers a subscribe with a list from before a restart, even at the same seq number', async () => {
    await scenario(async (server, conns) => {
      await server.kill();
      await server.launch();
      await waitFor(() => conns.commandReady, { timeoutMs: 10_000, what: 'the command connection to come back' });
    });
  });

  it('expires closed requests of a project again after a FLUSHALL (its first commit after the wipe registers it anew)', async () => {
    let clock = Date.now();
    await withOwnRedis(
      () => clock,
      async ({ model, conns, apply }) => {
        const P = 'swept';
        await apply({ type: 'request.create', data: f.request(P, 'before', { status: 1000 }) });
        await conns.command.flushall(); // no sweep in between: the replica still counts the project as registered
        await apply({ type: 'request.create', data: f.request(P, 'after', { status: 1000 }) });
        expect(await conns.command.hexists(`rt:{${P}}:req`, 'after')).toBe(1);
        clock += 61_000;
        await model.sweep();
        expect(await conns.command.hexists(`rt:{${P}}:req`, 'after')).toBe(0);
      },
    );
  });

  it("expires closed requests of a project whose entry in the sweeps' set was lost while its own keys stayed", async () => {
    let clock = Date.now();
    await withOwnRedis(
      () => clock,
      async ({ model, conns, apply }) => {
        const P = 'orphan';
        await apply({ type: 'request.create', data: f.request(P, 'closed', { status: 1000 }) });
        await conns.command.del('rt:projects'); // as when the set's node restarts empty on a cluster, or it is evicted
        clock += 61_000;
        await model.sweep();
        expect(await conns.command.hexists(`rt:{${P}}:req`, 'closed')).toBe(0);
      },
    );
  });

  it('never answers a subscribe with a list from before a FLUSHALL on a live connection', async () => {
    await scenario(async (_server, conns) => {
      await conns.command.flushall();
    });
  });
});
