import * as f from './helpers/factories';
import { RedisSentinelSet } from './helpers/redis-sentinel';
import { ReplicaProcess } from './helpers/replica-process';
import { TestClient } from './helpers/ws-client';
import { until, waitFor } from './helpers/wait-for';

/**
 * A Sentinel-managed Redis failing over under live traffic (real processes: a primary, its replicas, a sentinel,
 * two service replicas): the primary is SIGKILLed while events are being ingested and two clients watch; the
 * sentinel promotes a replica, the service replicas follow it, resynchronize their subscriptions and deliver
 * again with no client action. With REDIS_WAIT_REPLICAS=1 no acknowledged event is missing afterwards.
 */

interface Run {
  set: RedisSentinelSet;
  replicas: ReplicaProcess[];
  clients: TestClient[];
}

/** A frame whose message (one document, or a snapshot's array) holds the request. */
function holds(c: TestClient, requestId: string): boolean {
  return c.frames.some((fr) => {
    const m = fr.payload.message as { request_id?: string } | Array<{ request_id?: string }> | undefined;
    return Array.isArray(m) ? m.some((r) => r.request_id === requestId) : m?.request_id === requestId;
  });
}

async function failoverUnderTraffic(
  run: Run,
  env: Record<string, string>,
): Promise<{ P: string; acked: string[]; afterFailover: string[] }> {
  const [a, b] = await Promise.all([ReplicaProcess.start(env), ReplicaProcess.start(env)]);
  run.replicas.push(a, b);
  const P = `sent-${Date.now()}`;
  await a.ingestOk({ type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') });
  const onA = await a.connect('owner');
  const onB = await b.connect('owner');
  run.clients.push(onA, onB);
  await onA.subscribe(`/${P}/requests`);
  await onB.subscribe(`/${P}/requests`);

  // Live traffic: one event after the other, alternating replicas, each sent again until acknowledged (202).
  const acked: string[] = [];
  let stop = false;
  const traffic = (async () => {
    for (let i = 0; !stop; i++) {
      const via = i % 2 === 0 ? a : b;
      const id = `r${i}`;
      const doc = f.request(P, id, { status: 100 });
      await until(
        async () => (await via.ingest({ type: 'request.create', data: doc })).status === 202,
        `event ${id} to be accepted`,
        60_000,
      );
      acked.push(id);
    }
  })();
  await waitFor(() => acked.length >= 10, { timeoutMs: 15_000, what: 'traffic before the failover' });
  await run.set.failOver();
  const atFailover = acked.length;
  await waitFor(() => acked.length >= atFailover + 10, { timeoutMs: 60_000, what: 'traffic to resume after the failover' });
  stop = true;
  await traffic;
  const afterFailover = acked.slice(atFailover);
  // Both clients get what was accepted after the failover, on the connections they already had.
  const last = acked[acked.length - 1]!;
  for (const c of [onA, onB]) await waitFor(() => holds(c, last), { timeoutMs: 30_000, what: `the clients to receive ${last}` });
  expect(onA.closeInfo).toBeNull();
  expect(onB.closeInfo).toBeNull();
  return { P, acked, afterFailover };
}

function cleanup(run: Run) {
  return async () => {
    for (const c of run.clients) c.close();
    await Promise.all(run.replicas.map((r) => r.kill('SIGTERM')));
    await run.set?.stop();
  };
}

describe('Redis Sentinel: a failover under live traffic', () => {
  const run = { replicas: [], clients: [] } as unknown as Run;
  beforeAll(async () => {
    run.set = await RedisSentinelSet.start();
  });
  afterAll(cleanup(run));

  it('the replicas follow the promoted primary and deliver again, with no client action', async () => {
    const { afterFailover } = await failoverUnderTraffic(run, { ...run.set.env(), WS_HISTORY_REQUESTS_LIMIT: '1000' });
    expect(afterFailover.length).toBeGreaterThanOrEqual(10);
  });
});

describe('Redis Sentinel with REDIS_WAIT_REPLICAS=1', () => {
  const run = { replicas: [], clients: [] } as unknown as Run;
  beforeAll(async () => {
    // Two replicas: after the failover one still follows the new primary, so writes can be confirmed again.
    run.set = await RedisSentinelSet.start({ replicas: 2 });
  });
  afterAll(cleanup(run));

  it('acknowledges nothing that fewer replicas than REDIS_WAIT_REPLICAS confirmed', async () => {
    // Three asked for, two exist: every write times out waiting, and the sender is told to retry.
    const strict = await ReplicaProcess.start({ ...run.set.env(), REDIS_WAIT_REPLICAS: '3', REDIS_WAIT_TIMEOUT_MS: '200' });
    try {
      const P = `sent-strict-${Date.now()}`;
      const r = await strict.ingest({ type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('unavailable');
    } finally {
      await strict.kill('SIGTERM');
    }
  });

  it('loses no acknowledged event across the failover', async () => {
    const { P, acked } = await failoverUnderTraffic(run, {
      ...run.set.env(),
      WS_HISTORY_REQUESTS_LIMIT: '1000',
      REDIS_WAIT_REPLICAS: '1',
      REDIS_WAIT_TIMEOUT_MS: '500',
    });
    const reader = await run.replicas[1]!.connect('owner');
    run.clients.push(reader);
    const snapshot = (await reader.subscribe(`/${P}/requests`)).payload.message as Array<{ request_id: string }>;
    const stored = new Set(snapshot.map((r) => r.request_id));
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
  });
});
