import { ReplicaProcess } from './helpers/replica-process';
import { userToken } from './helpers/tokens';
import { HandshakeRefused, TestClient } from './helpers/ws-client';
import { until } from './helpers/wait-for';

/**
 * operations.md §5, on a real OS process receiving a real SIGTERM: /readyz turns 503, new handshakes are
 * refused, the connections are closed with 1001 spread across SHUTDOWN_DRAIN_MS (not all at once), and the
 * process exits 0.
 */
describe('shutdown on SIGTERM', () => {
  const DRAIN_MS = 3000;
  let replica: ReplicaProcess | null = null;

  afterEach(async () => {
    await replica?.kill();
    replica = null;
  });

  it('drains: readiness 503 and handshakes refused at once, 1001 closes spread over the window, exit code 0', async () => {
    replica = await ReplicaProcess.start({ SHUTDOWN_DRAIN_MS: String(DRAIN_MS) });
    const r = replica;
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => r.connect(`drain-user-${i}`)));
    const closedAt: number[] = [];
    const closes = clients.map(async (c) => {
      const info = await c.waitClosed(DRAIN_MS + 5000);
      closedAt.push(Date.now());
      return info.code;
    });
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      r.proc.once('exit', (code, signal) => resolve({ code, signal })),
    );

    r.proc.kill('SIGTERM');

    const notReady = await until(async () => {
      const res = await r.readyz();
      return res.status === 503 ? res.body : null;
    }, '/readyz to answer 503');
    expect(notReady.error).toMatchObject({ code: 'unavailable', checks: { not_draining: false } });
    const refused = await TestClient.connect(`${r.wsUrl}?token=${userToken('late-user')}`).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(HandshakeRefused);
    expect((refused as HandshakeRefused).status).toBe(503);
    expect(JSON.parse((refused as HandshakeRefused).body)).toEqual({ error: { code: 'unavailable', message: expect.any(String) } });

    expect(await Promise.all(closes)).toEqual(clients.map(() => 1001));
    // Spread, not all at once: 20 connections in 20 slices over 3 s put ~2.85 s between the first and the last.
    const spread = Math.max(...closedAt) - Math.min(...closedAt);
    expect(spread).toBeGreaterThanOrEqual(DRAIN_MS / 2);
    expect(await exit).toEqual({ code: 0, signal: null });
  });

  it('without connections, exits 0 at once (nothing to drain)', async () => {
    replica = await ReplicaProcess.start({ SHUTDOWN_DRAIN_MS: '60000' });
    const r = replica;
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      r.proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
    r.proc.kill('SIGTERM');
    expect(await exit).toEqual({ code: 0, signal: null });
  });
});
