import Redis, { Cluster } from 'ioredis';
import pino from 'pino';
import { MemoryBus } from '../src/bus/memory/memory-bus';
import { AppConfig, loadConfig } from '../src/config/app-config';
import { Envelope } from '../src/domain/changes';
import { RedisConnections } from '../src/engine/redis-connections';
import { ValidatedEvent } from '../src/ingest/event-validation';
import { IngestPipeline, IngestResult } from '../src/ingest/ingest-pipeline.service';
import { RedisStreamConsumer, RedisStreamConsumerOptions } from '../src/ingest/redis-stream/redis-stream-consumer';
import { MemoryReadModel } from '../src/store/memory/memory-read-model';
import * as f from './helpers/factories';
import { RedisCluster, RedisServer } from './helpers/redis-server';
import { waitFor, until } from './helpers/wait-for';

/** ingest.md §2.2: the Redis stream transport, against a real redis-server. */

const log = pino({ level: 'silent' });

/** The real pipeline over the memory engine, recording which documents reached it; it can be made to fail. */
class RecordingPipeline extends IngestPipeline {
  /** `_id` of the document of every event the pipeline was asked to apply, in call order. */
  readonly calls: string[] = [];
  failure: Error | null = null;
  /** When set, ingest waits for it before applying (a batch "in flight"). */
  gate: Promise<void> | null = null;
  /** A slow store: each call takes at least this long. */
  delayMs = 0;

  override async ingest(events: ValidatedEvent[], acceptedAt?: number): Promise<IngestResult> {
    if (this.gate) await this.gate;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failure) throw this.failure;
    for (const e of events) this.calls.push((e.event as any).data?._id);
    return super.ingest(events, acceptedAt);
  }
}

interface Replica {
  consumer: RedisStreamConsumer;
  pipeline: RecordingPipeline;
  connections: RedisConnections;
  /** Envelopes published for project P, i.e. what subscribers of P would be sent. */
  published: Envelope[];
}

const P = 'sp';
const published = (r: Replica) => r.published.map((e) => (e.change.type === 'message' ? e.change.message._id : e.change.type));

function configFor(env: Record<string, string>): AppConfig {
  return loadConfig({ GLOBAL_SECRET: 'x', LOG_LEVEL: 'silent', ...env });
}

async function replica(config: AppConfig, options: RedisStreamConsumerOptions = {}, pipeline?: RecordingPipeline): Promise<Replica> {
  const store = new MemoryReadModel({
    history: config.history,
    closedRequestTtlS: config.retention.closedRequestTtlS,
    eventsTtlS: config.retention.eventsTtlS,
    dedupeTtlS: config.ingest.dedupeTtlS,
  });
  const bus = new MemoryBus();
  const out: Envelope[] = [];
  bus.onEnvelope((e) => out.push(e));
  await bus.join(P);
  const p = pipeline ?? new RecordingPipeline(store, bus, config);
  const connections = new RedisConnections(config.redis!);
  const consumer = new RedisStreamConsumer(connections, p, options, log);
  return { consumer, pipeline: p, connections, published: out };
}

const envelope = (doc: Record<string, unknown>, type = 'message.create', id?: string) =>
  JSON.stringify(id === undefined ? { type, data: doc } : { type, data: doc, id });

describe('Redis stream ingest', () => {
  let server: RedisServer;
  let redis: Redis;
  let prefix: string;
  let config: AppConfig;
  let testNo = 0;
  const replicas: Replica[] = [];

  const stream = () => `${prefix}ingest`;
  const group = () => `${prefix}realtime`;
  const start = async (options: RedisStreamConsumerOptions = {}, pipeline?: RecordingPipeline) => {
    const r = await replica(config, options, pipeline);
    replicas.push(r);
    r.consumer.start();
    return r;
  };
  const xadd = (...fields: string[]) => redis.xadd(stream(), '*', ...fields) as Promise<string>;
  const pendingCount = async () => Number((await redis.xpending(stream(), group()))[0]);
  const deadEntries = async () =>
    ((await redis.xrange(`${prefix}ingest:dead`, '-', '+')) as [string, string[]][]).map(([, fields]) => {
      const o: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
      return o;
    });

  beforeAll(async () => {
    server = await RedisServer.start();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });
  beforeEach(() => {
    // One key space per test on the shared server.
    prefix = `t${++testNo}:`;
    config = configFor({ REDIS_URL: server.url, REDIS_PREFIX: prefix });
  });
  afterEach(async () => {
    for (const r of replicas.splice(0)) {
      await r.consumer.stop();
      await r.connections.close();
    }
  });

  it('applies entries once, in stream order, and acknowledges them after the apply', async () => {
    const r = await start();
    const msgs = [1, 2, 3, 4, 5].map(() => f.message(P, 'req-1'));
    for (const m of msgs) await xadd('event', envelope(m));
    await waitFor(() => published(r).length === 5, { what: 'five envelopes' });
    expect(published(r)).toEqual(msgs.map((m) => m._id));
    await until(async () => (await pendingCount()) === 0, 'acknowledgements');
    expect(r.consumer.status).toMatchObject({ running: true, healthy: true, applied: 5, deadLettered: 0, lastError: null });
    expect(await redis.xlen(`${prefix}ingest:dead`)).toBe(0);
  });

  it('acknowledges and ignores an entry whose envelope id was already applied', async () => {
    const r = await start();
    const m = f.message(P, 'req-1', { text: 'first' });
    await xadd('event', envelope(m, 'message.create', 'evt-1'));
    await xadd('event', envelope({ ...m, text: 'second', updatedAt: f.nextTime() }, 'message.update', 'evt-1'));
    const after = f.message(P, 'req-1');
    await xadd('event', envelope(after));
    await waitFor(() => published(r).includes(after._id), { what: 'the entry after the duplicate' });
    expect(published(r)).toEqual([m._id, after._id]);
    expect(r.published[0]!.change).toMatchObject({ type: 'message', method: 'CREATE', message: { text: 'first' } });
    await until(async () => (await pendingCount()) === 0, 'acknowledgements');
    expect(r.consumer.status.applied).toBe(3);
  });

  it('two consumers of the group apply each entry once in total', async () => {
    const a = await start({ consumerName: 'a', blockMs: 50 });
    const b = await start({ consumerName: 'b', blockMs: 50 });
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const m = f.message(P, `req-${i % 7}`);
      ids.push(m._id);
      await xadd('event', envelope(m));
    }
    await waitFor(() => a.pipeline.calls.length + b.pipeline.calls.length === 300, { what: '300 entries applied' });
    await until(async () => (await pendingCount()) === 0, 'acknowledgements');
    const all = [...a.pipeline.calls, ...b.pipeline.calls];
    expect(new Set(all).size).toBe(300);
    expect([...all].sort()).toEqual([...ids].sort());
    expect(a.consumer.status.applied + b.consumer.status.applied).toBe(300);
    // Each consumer applies its share in stream order.
    for (const r of [a, b]) expect(r.pipeline.calls).toEqual(ids.filter((id) => r.pipeline.calls.includes(id)));
  });

  it('moves malformed entries to the dead-letter stream with the reason and the original id, and acks them', async () => {
    const r = await start();
    const notJson = await xadd('event', '{"type": "message.create", ');
    const unknownType = await xadd('event', envelope(f.message(P, 'req-1'), 'message.explode'));
    const missingField = await xadd('event', envelope({ ...f.request(P, 'req-2'), request_id: undefined }, 'request.create'));
    const noEvent = await xadd('payload', envelope(f.message(P, 'req-1')));
    const good = f.message(P, 'req-1');
    await xadd('event', envelope(good));
    await waitFor(() => published(r).includes(good._id), { what: 'the valid entry after the malformed ones' });
    const dead = await until(async () => {
      const d = await deadEntries();
      return d.length === 4 && d;
    }, 'four dead-lettered entries');
    expect(dead[0]).toEqual({ id: notJson, reason: expect.stringMatching(/^event is not JSON: /), event: '{"type": "message.create", ' });
    expect(dead[1]).toMatchObject({ id: unknownType, reason: 'event: unknown type "message.explode"', field: 'type' });
    expect(JSON.parse(dead[1]!.event!).type).toBe('message.explode');
    expect(dead[2]).toMatchObject({
      id: missingField,
      reason: 'event (request.create): data.request_id: required',
      field: 'data.request_id',
    });
    expect(dead[3]).toEqual({ id: noEvent, reason: 'missing field "event"' });
    await until(async () => (await pendingCount()) === 0, 'acknowledgements');
    expect(published(r)).toEqual([good._id]);
    expect(r.consumer.status).toMatchObject({ applied: 1, deadLettered: 4 });
  });

  it('leaves an entry pending while the pipeline fails and applies it, in order, once the pipeline works again', async () => {
    const r = await start({ blockMs: 50 });
    r.pipeline.failure = Object.assign(new Error('store unreachable'), { name: 'EngineUnavailableError' });
    const m1 = f.message(P, 'req-1');
    const m2 = f.message(P, 'req-1');
    await xadd('event', envelope(m1));
    await xadd('event', envelope(m2));
    await waitFor(() => r.consumer.status.lastError?.includes('store unreachable'), { what: 'the pipeline failure' });
    expect(r.consumer.status.healthy).toBe(false);
    expect(await pendingCount()).toBe(2);
    expect(published(r)).toEqual([]);
    r.pipeline.failure = null;
    await waitFor(() => published(r).length === 2, { what: 'both entries applied' });
    expect(published(r)).toEqual([m1._id, m2._id]);
    await until(async () => (await pendingCount()) === 0, 'acknowledgements');
    await waitFor(() => r.consumer.status.healthy, { what: 'healthy again' });
    expect(await redis.xlen(`${prefix}ingest:dead`)).toBe(0);
  });

  it('applies the projects of a batch side by side: a failing project holds back only its own entries, which resume in order', async () => {
    const Q = 'sq';
    const q1 = f.message(Q, 'req-q');
    const q2 = f.message(Q, 'req-q');
    const p1 = f.message(P, 'req-1');
    const p2 = f.message(P, 'req-1');
    // Written before the consumer starts, so that they arrive in one batch.
    for (const m of [q1, p1, q2, p2]) await xadd('event', envelope(m));
    const pipeline = new RecordingPipeline(
      new MemoryReadModel({ history: config.history, closedRequestTtlS: 60, eventsTtlS: 60, dedupeTtlS: 60 }),
      new MemoryBus(),
      config,
    );
    let qDown = true;
    const attempted: string[] = [];
    const ingest = pipeline.ingest.bind(pipeline);
    pipeline.ingest = (events, at) => {
      const doc = (events[0]!.event as any).data as { _id: string; id_project: string };
      attempted.push(doc._id);
      if (qDown && doc.id_project === Q)
        return Promise.reject(Object.assign(new Error('Q unreachable'), { name: 'EngineUnavailableError' }));
      return ingest(events, at);
    };
    const r = await start({ blockMs: 50 }, pipeline);
    await waitFor(() => pipeline.calls.includes(p2._id), { what: "P's entries applied while Q fails" });
    expect(pipeline.calls).toEqual([p1._id, p2._id]);
    await until(async () => (await pendingCount()) === 2, "P's entries acknowledged, Q's pending");
    expect(attempted).not.toContain(q2._id); // never tried before the entry ahead of it in its project
    qDown = false;
    await waitFor(() => pipeline.calls.length === 4, { what: "Q's entries applied" });
    expect(pipeline.calls.slice(2)).toEqual([q1._id, q2._id]);
    await until(async () => (await pendingCount()) === 0, 'every entry acknowledged');
    expect(r.consumer.status.applied).toBe(4);
  });

  it('dead-letters an entry that keeps failing for a reason other than an outage, and goes on with the next', async () => {
    const r = await start({ blockMs: 50 });
    const poison = f.message(P, 'req-1');
    const next = f.message(P, 'req-1');
    r.pipeline.failure = new Error('a bug, not an outage');
    const poisonId = await xadd('event', envelope(poison));
    await waitFor(() => r.consumer.status.lastError?.includes('a bug'), { what: 'the first failure' });
    r.pipeline.failure = null;
    // only the poison entry keeps failing from here on
    const ingest = r.pipeline.ingest.bind(r.pipeline);
    r.pipeline.ingest = (events, at) =>
      (events[0]!.event as any).data?._id === poison._id ? Promise.reject(new Error('a bug, not an outage')) : ingest(events, at);
    await xadd('event', envelope(next));
    await waitFor(() => published(r).includes(next._id), { what: 'the next entry applied', timeoutMs: 15_000 });
    const dead = await deadEntries();
    expect(dead).toEqual([{ id: poisonId, reason: 'apply failed 5 times: a bug, not an outage', event: envelope(poison) }]);
    await until(async () => (await pendingCount()) === 0, 'acknowledgements');
  });

  it('dead-letters an entry whose validation itself keeps failing (a bug, not a bad event), and goes on with the next', async () => {
    const r = await start({ blockMs: 50 });
    const poison = f.message(P, 'req-1');
    const next = f.message(P, 'req-1');
    const validate = r.pipeline.validate.bind(r.pipeline);
    r.pipeline.validate = (batch) => {
      if ((batch[0] as any)?.data?._id === poison._id) throw new TypeError('validation crashed');
      return validate(batch);
    };
    const poisonId = await xadd('event', envelope(poison));
    await xadd('event', envelope(next));
    await waitFor(() => published(r).includes(next._id), { what: 'the next entry applied', timeoutMs: 15_000 });
    const dead = await until(async () => ((await deadEntries()).length > 0 ? deadEntries() : null), 'the dead letter');
    expect(dead).toEqual([{ id: poisonId, reason: 'apply failed 5 times: validation crashed', event: envelope(poison) }]);
    await until(async () => (await pendingCount()) === 0, 'acknowledgements');
  });

  it('claims entries left pending by a consumer that died, after claimIdleMs, and forgets that consumer', async () => {
    await redis.xgroup('CREATE', stream(), group(), '0', 'MKSTREAM');
    const msgs = [1, 2, 3].map(() => f.message(P, 'req-1'));
    for (const m of msgs) await xadd('event', envelope(m));
    const readAt = Date.now(); // before the read: Redis counts the entries' idle time from when it delivered them
    const taken = (await redis.xreadgroup('GROUP', group(), 'dead', 'COUNT', 10, 'STREAMS', stream(), '>')) as [string, unknown[]][];
    expect(taken[0]![1]).toHaveLength(3);
    expect(await pendingCount()).toBe(3);

    const r = await start({ consumerName: 'live', claimIdleMs: 200, forgetIdleMs: 400 });
    await waitFor(() => published(r).length === 3, { what: 'the claimed entries applied' });
    expect(Date.now() - readAt).toBeGreaterThanOrEqual(200);
    expect(published(r)).toEqual(msgs.map((m) => m._id));
    await until(async () => (await pendingCount()) === 0, 'acknowledgements');
    expect(r.consumer.status).toMatchObject({ claimed: 3, applied: 3 });
    await until(async () => {
      const consumers = (await redis.xinfo('CONSUMERS', stream(), group())) as unknown[][];
      return consumers.every((c) => c[1] !== 'dead');
    }, 'the dead consumer removed from the group');
  });

  it('claims the pending entries of a consumer stopped mid-batch and applies each once', async () => {
    let open!: () => void;
    const first = await start({ consumerName: 'first', claimIdleMs: 200 });
    first.pipeline.gate = new Promise<void>((resolve) => (open = resolve));
    const msgs = [1, 2, 3].map(() => f.message(P, 'req-1'));
    for (const m of msgs) await xadd('event', envelope(m));
    await until(async () => (await pendingCount()) === 3, 'the batch delivered to the first consumer');
    // The process dies: its batch is never applied nor acknowledged.
    first.pipeline.failure = new Error('process gone');
    const stopped = first.consumer.stop();
    open();
    await stopped;
    expect(first.pipeline.calls).toEqual([]);
    expect(await pendingCount()).toBe(3);

    const second = await start({ consumerName: 'second', claimIdleMs: 200 });
    await waitFor(() => published(second).length === 3, { what: 'the entries claimed by the second consumer' });
    expect(published(second)).toEqual(msgs.map((m) => m._id));
    await until(async () => (await pendingCount()) === 0, 'acknowledgements');
  });

  it('stop() interrupts a blocking read at once, waits for the batch in flight, and start() resumes', async () => {
    const r = await start({ blockMs: 10_000 });
    const m1 = f.message(P, 'req-1');
    await xadd('event', envelope(m1));
    await waitFor(() => published(r).length === 1, { what: 'the first entry' });
    await until(async () => (await pendingCount()) === 0, 'acknowledgement');

    // Blocked in XREADGROUP for up to 10 s: stop() must not wait for it.
    const t0 = Date.now();
    await r.consumer.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r.consumer.status.running).toBe(false);

    // A batch in flight is finished (applied and acknowledged) before stop() resolves.
    let open!: () => void;
    r.pipeline.gate = new Promise<void>((resolve) => (open = resolve));
    r.consumer.start();
    const m2 = f.message(P, 'req-1');
    await xadd('event', envelope(m2));
    await until(async () => (await pendingCount()) === 1, 'the entry delivered');
    let stopped = false;
    const stopping = r.consumer.stop().then(() => (stopped = true));
    // A Redis round trip later stop() still waits: the batch has not been applied yet.
    expect(await pendingCount()).toBe(1);
    expect(stopped).toBe(false);
    open();
    await stopping;
    expect(published(r)).toEqual([m1._id, m2._id]);
    expect(await pendingCount()).toBe(0);

    r.pipeline.gate = null;
    const m3 = f.message(P, 'req-1');
    await xadd('event', envelope(m3));
    r.consumer.start();
    await waitFor(() => published(r).length === 3, { what: 'consumption resumed' });
    expect(published(r)[2]).toBe(m3._id);
  });

  it('trims the stream to about streamMaxLen', async () => {
    const r = await start({ claimIdleMs: 200, streamMaxLen: 100 });
    const tx = redis.pipeline();
    for (let i = 0; i < 1000; i++) tx.xadd(stream(), '*', 'event', envelope(f.message(P, `req-${i % 10}`)));
    await tx.exec();
    expect(await redis.xlen(stream())).toBe(1000);
    await waitFor(() => r.consumer.status.applied === 1000, { what: 'all entries applied', timeoutMs: 10_000 });
    // Approximate trimming removes whole radix-tree nodes (100 entries each by default): 100 <= length < 200.
    const len = await until(async () => {
      const n = await redis.xlen(stream());
      return n < 200 && n;
    }, 'the stream trimmed');
    expect(len).toBeGreaterThanOrEqual(100);
  });

  it('never trims entries the group has not read yet, even when it is further behind than streamMaxLen', async () => {
    const r = await replica(config, { claimIdleMs: 200, streamMaxLen: 100, batch: 10 });
    replicas.push(r);
    // About 2 s of work for 1000 entries: maintenance (every 100 ms) runs many times while most are unread.
    r.pipeline.delayMs = 2;
    const tx = redis.pipeline();
    for (let i = 0; i < 1000; i++) tx.xadd(stream(), '*', 'event', envelope(f.message(P, `req-${i % 10}`)));
    await tx.exec();
    r.consumer.start();
    await waitFor(() => r.consumer.status.lag !== null && r.consumer.status.lag > 100, { what: 'a lag over streamMaxLen' });
    await waitFor(() => r.consumer.status.applied === 1000, { what: 'every entry applied', timeoutMs: 20_000 });
    expect(new Set(r.pipeline.calls).size).toBe(1000);
    expect(await redis.xlen(`${prefix}ingest:dead`)).toBe(0);
    await until(async () => (await redis.xlen(stream())) < 200, 'the stream trimmed once caught up');
  });

  it('survives a Redis outage and resumes, re-creating the consumer group, when Redis comes back empty', async () => {
    const own = await RedisServer.start();
    const client = new Redis(own.url);
    const ownConfig = configFor({ REDIS_URL: own.url, REDIS_PREFIX: prefix });
    const r = await replica(ownConfig, { claimIdleMs: 200 });
    replicas.push(r);
    r.consumer.start();
    try {
      const m1 = f.message(P, 'req-1');
      await client.xadd(stream(), '*', 'event', envelope(m1));
      await waitFor(() => published(r).length === 1, { what: 'the entry before the outage' });
      await waitFor(() => r.consumer.status.healthy, { what: 'healthy' });

      await own.kill();
      await waitFor(() => !r.consumer.status.healthy, { what: 'the outage noticed' });
      expect(r.consumer.status.running).toBe(true);

      await own.launch();
      const m2 = f.message(P, 'req-1');
      const m3 = f.message(P, 'req-1');
      await client.xadd(stream(), '*', 'event', envelope(m2));
      await client.xadd(stream(), '*', 'event', envelope(m3));
      await waitFor(() => published(r).length === 3, { what: 'consumption resumed', timeoutMs: 15_000 });
      expect(published(r)).toEqual([m1._id, m2._id, m3._id]);
      await waitFor(() => r.consumer.status.healthy, { what: 'healthy again', timeoutMs: 5000 });
      const groups = (await client.xinfo('GROUPS', stream())) as unknown[][];
      expect(groups.map((g) => g[1])).toEqual([group()]);
      await until(async () => Number((await client.xpending(stream(), group()))[0]) === 0, 'acknowledgements');
    } finally {
      await r.consumer.stop();
      await r.connections.close();
      replicas.splice(replicas.indexOf(r), 1);
      client.disconnect();
      await own.stop();
    }
  });
});

describe('Redis stream ingest on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start();
    client = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  });
  afterAll(async () => {
    client.disconnect();
    await cluster.stop();
  });

  it('applies, dead-letters and acknowledges entries', async () => {
    const config = configFor({ REDIS_CLUSTER_NODES: cluster.nodesEnv, REDIS_PREFIX: 'c:' });
    const r = await replica(config, { claimIdleMs: 200 });
    r.consumer.start();
    try {
      const m = f.message(P, 'req-1');
      const bad = (await client.xadd('c:ingest', '*', 'event', 'not json')) as string;
      await client.xadd('c:ingest', '*', 'event', envelope(m));
      await waitFor(() => published(r).length === 1, { what: 'the entry applied' });
      expect(published(r)).toEqual([m._id]);
      await until(async () => Number((await client.xpending('c:ingest', 'c:realtime'))[0]) === 0, 'acknowledgements');
      const dead = (await client.xrange('c:ingest:dead', '-', '+')) as [string, string[]][];
      expect(dead.map(([, fields]) => fields.slice(0, 2))).toEqual([['id', bad]]);
      const t0 = Date.now();
      await r.consumer.stop();
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      await r.consumer.stop();
      await r.connections.close();
    }
  });
});
