import { RedisConnections } from '../src/engine/redis-connections';
import { describeReadModelContract } from '../src/store/read-model.contract';
import { RedisReadModel } from '../src/store/redis/redis-read-model';
import { validateEnvelope } from '../src/ingest/event-validation';
import { parseTopic } from '../src/protocol/topic-grammar';
import * as f from './helpers/factories';
import { RedisCluster, RedisServer } from './helpers/redis-server';
import { waitFor } from './helpers/wait-for';

/** The ReadModel contract, against a real redis-server and a real 3-master cluster. */

let server: RedisServer;
let connections: RedisConnections;
beforeAll(async () => {
  server = await RedisServer.start();
  connections = new RedisConnections({ url: server.url, prefix: 'rt:', claimIdleMs: 30000, streamMaxLen: 1000 });
  await connections.ready();
});
afterAll(async () => {
  await connections.close();
  await server.stop();
});

describeReadModelContract(
  'RedisReadModel (single redis-server)',
  (opts) => new RedisReadModel(connections, { ...opts, channel: (p) => `rt:p:{${p}}` }),
);

describe('on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let clusterConnections: RedisConnections;
  beforeAll(async () => {
    cluster = await RedisCluster.start();
    clusterConnections = new RedisConnections({
      clusterNodes: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      prefix: 'rt:',
      claimIdleMs: 30000,
      streamMaxLen: 1000,
    });
    await clusterConnections.ready();
  });
  afterAll(async () => {
    await clusterConnections.close();
    await cluster.stop();
  });
  describeReadModelContract(
    'RedisReadModel (cluster)',
    (opts) => new RedisReadModel(clusterConnections, { ...opts, channel: (p) => `rt:p:{${p}}` }),
  );
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

describe('RedisReadModel: Redis restarted empty', () => {
  it('never answers a subscribe with a list read before the restart, even at the same seq number', async () => {
    const own = await RedisServer.start();
    const conns = new RedisConnections({ url: own.url, prefix: 'rt:', claimIdleMs: 30000, streamMaxLen: 1000 });
    try {
      await conns.ready();
      const model = new RedisReadModel(conns, {
        history: { requests: 5, messages: 5, events: 5 },
        closedRequestTtlS: 60,
        eventsTtlS: 60,
        dedupeTtlS: 60,
        channel: (p) => `rt:p:{${p}}`,
      });
      const P = 'restarted';
      const apply = (raw: { type: string; data: Record<string, unknown> }) =>
        model.apply(validateEnvelope(raw, 0, { maxEventBytes: 1 << 20 }).event, Date.now());
      const topic = parseTopic(`/${P}/requests`)!;
      const listed = async () => ((await model.readForSubscribe(topic, 'owner')).requests ?? []).map((r) => r.request_id);
      await apply({ type: 'project_user.update', data: f.projectUser(P, 'owner', 'owner') });
      await apply({ type: 'request.create', data: f.request(P, 'before-restart') });
      expect(await listed()).toEqual(['before-restart']); // seq 2, kept for the next readers
      await own.kill();
      await own.launch();
      await waitFor(() => conns.commandReady, { timeoutMs: 10_000, what: 'the command connection to come back' });
      await apply({ type: 'project_user.update', data: f.projectUser(P, 'owner', 'owner') });
      await apply({ type: 'request.create', data: f.request(P, 'after-restart') });
      expect((await model.readForSubscribe(topic, 'owner')).seq).toBe(2);
      expect(await listed()).toEqual(['after-restart']);
    } finally {
      await conns.close();
      await own.stop();
    }
  });
});
