import * as f from './helpers/factories';
import { scrape, series } from './helpers/metrics-scrape';
import { RedisServer } from './helpers/redis-server';
import { ReplicaProcess } from './helpers/replica-process';
import { AMQP_URL, TiledeskFanout, closeAllBrokerConnections } from './helpers/tiledesk-fanout';
import { TestClient } from './helpers/ws-client';
import { until, waitFor } from './helpers/wait-for';

/**
 * Drop-in next to a running Tiledesk (ingest.md §2.3), against the RabbitMQ of this machine: events published
 * exactly as Tiledesk publishes them on its `ws` fanout exchange, two replica processes consuming one durable
 * queue as competing consumers.
 */

const QUEUE = `rt-test-${process.pid}-${Date.now()}`;

describe("AMQP: consuming Tiledesk's fan-out with two replicas", () => {
  let redis: RedisServer;
  let a: ReplicaProcess;
  let b: ReplicaProcess;
  let fanout: TiledeskFanout;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    fanout = await TiledeskFanout.connect();
    redis = await RedisServer.start();
    const env = { REDIS_URL: redis.url, AMQP_URL, AMQP_QUEUE: QUEUE, AMQP_PREFETCH: '20' };
    [a, b] = await Promise.all([ReplicaProcess.start(env), ReplicaProcess.start(env)]);
    // Ready includes the amqp check: both consume the queue.
    for (const r of [a, b]) await until(async () => (await r.readyz()).body?.checks?.amqp === true, 'the replica to consume the queue');
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([a?.kill('SIGTERM'), b?.kill('SIGTERM')]);
    await fanout?.deleteQueue(QUEUE).catch(() => undefined);
    await fanout?.close();
    await redis?.stop();
  });

  const sumOver = async (name: string, labels: Record<string, string>) =>
    (await Promise.all([a, b].map(async (r) => series(await scrape(r.metricsPort), name, labels)))).reduce((x, y) => x + y, 0);

  async function watch(P: string, topic: string): Promise<[TestClient, TestClient]> {
    const onA = await a.connect('owner');
    const onB = await b.connect('owner');
    clients.push(onA, onB);
    await onA.subscribe(topic);
    await onB.subscribe(topic);
    return [onA, onB];
  }

  it("applies each event once and delivers it to subscribers on both replicas, with Tiledesk's bodies as they are", async () => {
    const P = `amqp-${Date.now()}`;
    // project_user_update as Tiledesk wraps it, with a populated id_user and the REST caller alongside.
    const member = f.projectUser(P, 'owner', 'owner', {
      id_user: { _id: 'owner', firstname: 'Olivia', lastname: 'Owner', email: 'o@example.test' },
    });
    await fanout.publish('project_user_update', {
      updatedProject_userPopulated: { ...member, isBusy: false },
      req: { user: { _id: 'admin', email: 'admin@example.test' }, body: { user_available: true } },
    });
    await until(
      async () =>
        (await sumOver('realtime_events_ingested_total', { transport: 'amqp', type: 'project_user.update', outcome: 'applied' })) === 1,
      'the member',
    );
    const [onA, onB] = await watch(P, `/${P}/requests`);
    const before = await sumOver('realtime_events_ingested_total', { transport: 'amqp', type: 'request.create', outcome: 'applied' });
    const ids = Array.from({ length: 20 }, (_, i) => `q${i}`);
    for (const id of ids) await fanout.publish('request_create', f.request(P, id, { status: 100 }));
    await fanout.publish('message_create', {
      ...f.message(P, 'q0', { _id: 'm1', text: 'hello' }),
      request: f.request(P, 'q0', { status: 100 }),
    });
    for (const c of [onA, onB]) {
      await waitFor(() => ids.every((id) => c.topicFrames(`/${P}/requests`).some((fr) => fr.payload.message?.request_id === id)), {
        timeoutMs: 15_000,
        what: 'every request on both replicas',
      });
      await c.sync();
      // Exactly once each: one CREATE per request.
      for (const id of ids) expect(c.topicFrames(`/${P}/requests`).filter((fr) => fr.payload.message?.request_id === id)).toHaveLength(1);
    }
    expect(
      (await sumOver('realtime_events_ingested_total', { transport: 'amqp', type: 'request.create', outcome: 'applied' })) - before,
    ).toBe(20);
    const messages = await onB.subscribe(`/${P}/requests/q0/messages`);
    expect(messages.payload.message).toEqual([expect.objectContaining({ _id: 'm1', text: 'hello' })]);
    expect(messages.payload.message[0].request).toBeUndefined();
  });

  it('rejects malformed messages without requeue, counts them, and keeps consuming what follows', async () => {
    const P = `amqp-bad-${Date.now()}`;
    await fanout.publish('project_user_update', { updatedProject_userPopulated: f.projectUser(P, 'owner', 'owner') });
    const [onA] = await watch(P, `/${P}/requests`);
    const before = await Promise.all(
      ['request.update', 'request.create', 'unknown'].map((type) =>
        sumOver('realtime_events_ingested_total', { transport: 'amqp', type, outcome: 'invalid' }),
      ),
    );
    await fanout.publish('request_update', 'this is not JSON');
    await fanout.publish('request_create', { status: 100 });
    await fanout.publish('request_snapshot_add', { _id: 'x' });
    await fanout.publish('request_create', f.request(P, 'after-bad', { status: 100 }));
    await onA.waitFrame((fr) => fr.payload.message?.request_id === 'after-bad', 0, 15_000);
    const after = await Promise.all(
      ['request.update', 'request.create', 'unknown'].map((type) =>
        sumOver('realtime_events_ingested_total', { transport: 'amqp', type, outcome: 'invalid' }),
      ),
    );
    expect(after.map((n, i) => n - before[i]!)).toEqual([1, 1, 1]);
    // Nothing is left waiting in the queue: the bad ones were dropped, not requeued.
    await until(async () => (await fanout.ready(QUEUE)) === 0, 'the queue to be empty');
  });

  it('resumes after the broker cuts every connection mid-stream, and loses nothing the broker accepted', async () => {
    const P = `amqp-cut-${Date.now()}`;
    await fanout.publish('project_user_update', { updatedProject_userPopulated: f.projectUser(P, 'owner', 'owner') });
    const [onA, onB] = await watch(P, `/${P}/requests`);
    const first = Array.from({ length: 30 }, (_, i) => `c${i}`);
    for (const id of first) await fanout.publish('request_create', f.request(P, id, { status: 100 }));
    closeAllBrokerConnections(); // the replicas' consumers and this publisher alike, some messages still unacknowledged
    await fanout.close();
    fanout = await TiledeskFanout.connect();
    const second = Array.from({ length: 30 }, (_, i) => `d${i}`);
    for (const id of second) await fanout.publish('request_create', f.request(P, id, { status: 100 }));
    for (const r of [a, b]) await until(async () => (await r.readyz()).body?.checks?.amqp === true, 'the replica to consume again', 20_000);
    for (const c of [onA, onB]) {
      await waitFor(
        () =>
          [...first, ...second].every((id) =>
            c.topicFrames(`/${P}/requests`).some((fr) => JSON.stringify(fr.payload.message).includes(`"${id}"`)),
          ),
        { timeoutMs: 30_000, what: 'every accepted event on both replicas' },
      );
    }
    // And the stored state holds them all.
    const reader = await b.connect('owner');
    clients.push(reader);
    const snapshot = (await reader.subscribe(`/${P}/requests`)).payload.message as Array<{ request_id: string }>;
    const stored = new Set(snapshot.map((r) => r.request_id));
    expect([...first, ...second].filter((id) => !stored.has(id))).toEqual([]);
  });

  it('sets its consumer up again when the broker cancels it (the queue deleted under it)', async () => {
    const P = `amqp-cancel-${Date.now()}`;
    await fanout.publish('project_user_update', { updatedProject_userPopulated: f.projectUser(P, 'owner', 'owner') });
    const [onA, onB] = await watch(P, `/${P}/requests`);
    await fanout.deleteQueue(QUEUE);
    // The replicas declare and bind it again on their own: what is published from then on reaches them.
    await until(async () => (await fanout.consumers(QUEUE)) === 2, 'both replicas to consume the queue again', 20_000);
    await fanout.publish('request_create', f.request(P, 'after-cancel', { status: 100 }));
    for (const c of [onA, onB]) await c.waitFrame((fr) => fr.payload.message?.request_id === 'after-cancel', 0, 15_000);
    for (const r of [a, b]) expect((await r.readyz()).body.checks.amqp).toBe(true);
  });
});
