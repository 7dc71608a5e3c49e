import * as f from './helpers/factories';
import { metricValue } from './helpers/metrics-scrape';
import { RedisServer } from './helpers/redis-server';
import { ReplicaProcess } from './helpers/replica-process';
import { TestClient } from './helpers/ws-client';
import { until } from './helpers/wait-for';

/**
 * Subscribes answered by the replica (its view of the project, kept exact by the envelopes it receives) instead
 * of a Redis read, on a replica process over a real redis-server: the answers stay those Redis would give across
 * a role change, a removal and a Redis restart between two subscribes. Which source answered is what an
 * operator sees in `realtime_subscribe_reads_total{source}`.
 */
describe('subscribes answered from the replica', () => {
  const P = 'sv-p';
  const TOPIC = `/${P}/requests`;
  let redis: RedisServer;
  let replica: ReplicaProcess;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    redis = await RedisServer.start();
    replica = await ReplicaProcess.start({ REDIS_URL: redis.url });
    await replica.ingestOk([
      { type: 'project.update', data: f.project(P) },
      { type: 'project_user.update', data: f.projectUser(P, 'boss', 'owner') },
      { type: 'project_user.update', data: f.projectUser(P, 'ann', 'owner') },
      { type: 'request.create', data: f.request(P, 'mine', { participants: ['ann'] }) },
      { type: 'request.create', data: f.request(P, 'other', { participants: ['someone'] }) },
    ]);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await replica.kill();
    await redis.stop();
  });

  const reads = async () => ({
    store: await metricValue(replica.metricsPort, 'realtime_subscribe_reads_total', { source: 'store' }),
    replica: await metricValue(replica.metricsPort, 'realtime_subscribe_reads_total', { source: 'replica' }),
  });

  /** A fresh connection of `user` subscribing to the list: its answer (a snapshot or an error). */
  async function subscribeAs(user: string) {
    const c = await replica.connect(user);
    clients.push(c);
    return c.subscribe(TOPIC);
  }
  const ids = (answer: { payload: { message: Array<{ request_id: string }> } }) => answer.payload.message.map((r) => r.request_id).sort();

  it('answers a repeated subscribe without Redis, with the same snapshot', async () => {
    const first = await subscribeAs('ann');
    const before = await reads();
    const again = await subscribeAs('ann');
    // Another member who never subscribed: the replica loaded every membership after the first subscribe, so it
    // answers from its view too (or reads Redis once, if the load had not come back yet).
    const boss = await subscribeAs('boss');
    const bossAgain = await subscribeAs('boss');
    const after = await reads();
    expect(ids(again as never)).toEqual(['mine', 'other']);
    expect(again.payload.message).toEqual(first.payload.message);
    expect(boss.payload.message).toEqual(first.payload.message);
    expect(bossAgain.payload.message).toEqual(boss.payload.message);
    expect(after.replica - before.replica + (after.store - before.store)).toBe(3);
    expect(after.store - before.store).toBeLessThanOrEqual(1);
    // A new request moves the view along: the next subscribe has it, still without Redis.
    await replica.ingestOk({ type: 'request.create', data: f.request(P, 'new', { participants: ['x'] }) });
    const later = await subscribeAs('ann');
    expect(ids(later as never)).toEqual(['mine', 'new', 'other']);
    expect((await reads()).store).toBe(after.store);
  });

  it('reads every membership once for a crowd of members who never subscribed, instead of once each', async () => {
    const crowd = Array.from({ length: 30 }, (_, i) => `crowd-${i}`);
    await replica.ingestOk(crowd.map((u) => ({ type: 'project_user.update', data: f.projectUser(P, u, 'owner') })));
    const first = await subscribeAs('ann');
    const before = await reads();
    for (const u of crowd) expect((await subscribeAs(u)).payload.message).toEqual(first.payload.message);
    const after = await reads();
    expect(after.replica - before.replica + (after.store - before.store)).toBe(crowd.length);
    // One load of every membership went out with the first subscribe: the crowd comes after it.
    expect(after.store - before.store).toBeLessThan(crowd.length / 3);
  });

  it('gives a demoted member the restricted list at once, and refuses a removed one', async () => {
    await subscribeAs('ann');
    expect(ids((await subscribeAs('ann')) as never)).toEqual(['mine', 'other']);
    await replica.ingestOk({ type: 'project_user.update', data: f.projectUser(P, 'ann', 'agent') });
    const demoted = await subscribeAs('ann');
    expect(ids(demoted as never)).toEqual(['mine']); // an agent sees the requests it takes part in
    await replica.ingestOk({ type: 'project_user.delete', data: { _id: `pu-${P}-ann`, id_project: P } });
    const removed = await subscribeAs('ann');
    expect(removed.action).toBe('error');
    expect(removed.payload.code).toBe('forbidden');
  });

  it('reads Redis again after Redis restarted between two subscribes (it came back empty: the member is gone)', async () => {
    await subscribeAs('ann');
    expect(ids((await subscribeAs('ann')) as never)).toEqual(['mine', 'other']);
    const before = await reads();
    await redis.kill();
    await redis.launch(); // no persistence: empty
    await until(async () => (await replica.readyz()).status === 200, 'the replica ready again');
    const after = await subscribeAs('ann');
    expect(after.action).toBe('error');
    expect(after.payload.code).toBe('forbidden');
    expect((await reads()).store).toBeGreaterThan(before.store);
  });
});
