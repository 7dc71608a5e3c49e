import * as f from './helpers/factories';
import { RedisServer } from './helpers/redis-server';
import { ReplicaProcess } from './helpers/replica-process';
import { userToken } from './helpers/tokens';
import { TestClient } from './helpers/ws-client';
import { until, waitFor } from './helpers/wait-for';

/**
 * A rollout step as operations.md §5 describes it, on real processes: two replicas on one Redis, 2 000 clients on
 * one of them, SIGTERM to it while events flow through the other. /readyz answers 503 at once; the 1001 closes
 * are spread over SHUTDOWN_DRAIN_MS (no 100 ms slice holds more than three times its even share); every client
 * reconnects to the other replica (as a load balancer would send it) and gets its snapshot; no event accepted
 * before the signal is missing from it.
 */

const CLIENTS = 2000;
const DRAIN_MS = 2000;

describe('draining one of two replicas under 2 000 clients', () => {
  let redis: RedisServer;
  let a: ReplicaProcess;
  let b: ReplicaProcess;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = { REDIS_URL: redis.url, SHUTDOWN_DRAIN_MS: String(DRAIN_MS), WS_HISTORY_REQUESTS_LIMIT: '1000' };
    [a, b] = await Promise.all([ReplicaProcess.start(env), ReplicaProcess.start(env)]);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([a?.kill(), b?.kill()]);
    await redis?.stop();
  });

  it('spreads the closes, and the clients find everything on the other replica', async () => {
    const P = `drain-${Date.now()}`;
    const topic = `/${P}/requests`;
    await b.ingestOk({ type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') });
    const url = (r: ReplicaProcess) => `ws://127.0.0.1:${r.port}/?token=${encodeURIComponent(`JWT ${userToken('owner')}`)}`;
    for (let i = 0; i < CLIENTS; i += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, () => TestClient.connect(url(a))));
      await Promise.all(batch.map((c) => c.subscribe(topic)));
      clients.push(...batch);
    }

    // Events flow through the other replica the whole time.
    const acked: string[] = [];
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        await b.ingestOk({ type: 'request.create', data: f.request(P, `r${i}`, { status: 100 }) });
        acked.push(`r${i}`);
      }
    })();
    await waitFor(() => acked.length >= 5, { what: 'some traffic first' });

    // Every client, once closed, goes to the other replica and asks for its snapshot again.
    const closedAt: number[] = [];
    const snapshots = clients.map(async (c) => {
      const info = await c.waitClosed(DRAIN_MS + 10_000);
      closedAt.push(Date.now());
      expect(info.code).toBe(1001);
      const again = await TestClient.connect(url(b));
      clients.push(again);
      return (await again.subscribe(topic)).payload.message as Array<{ request_id: string }>;
    });

    const ackedBeforeSignal = acked.length;
    a.proc.kill('SIGTERM');
    const signalledAt = Date.now();
    await until(async () => (await a.readyz()).status === 503, '/readyz to answer 503', 2000);
    expect(Date.now() - signalledAt).toBeLessThan(1000);

    const seen = await Promise.all(snapshots);
    stop = true;
    await traffic;

    // Spread: 100 ms slices from the first close; the even share is CLIENTS / (DRAIN_MS / 100) per slice.
    const first = Math.min(...closedAt);
    const slices = new Map<number, number>();
    for (const t of closedAt) slices.set(Math.floor((t - first) / 100), (slices.get(Math.floor((t - first) / 100)) ?? 0) + 1);
    const even = CLIENTS / (DRAIN_MS / 100);
    expect(Math.max(...slices.values())).toBeLessThanOrEqual(3 * even);
    expect(Math.max(...closedAt) - first).toBeGreaterThanOrEqual(DRAIN_MS / 2);

    // Nothing accepted before the signal is missing from any client's new snapshot.
    const before = acked.slice(0, ackedBeforeSignal);
    for (const snapshot of seen) {
      const ids = new Set(snapshot.map((r) => r.request_id));
      expect(before.filter((id) => !ids.has(id))).toEqual([]);
    }
  });
});
