import * as f from './helpers/factories';
import { startTestApp, TestApp } from './helpers/test-app';
import { metricValue } from './helpers/metrics-scrape';
import { until, waitFor } from './helpers/wait-for';

/**
 * operations.md §3 "slow consumers": a connection whose unsent outbound data passes WS_MAX_BUFFERED_BYTES is
 * closed with 1013; the others are not slowed by it.
 */
describe('slow consumers', () => {
  const P = 'slow-p';
  const CAP = 256 * 1024;
  let app: TestApp;

  beforeEach(async () => {
    app = await startTestApp({ WS_MAX_BUFFERED_BYTES: String(CAP) });
    await app.ingestOk([
      { type: 'project.update', data: f.project(P) },
      { type: 'project_user.update', data: f.projectUser(P, 'fast', 'owner') },
      { type: 'project_user.update', data: f.projectUser(P, 'stuck', 'owner') },
    ]);
  });
  afterEach(async () => {
    await app.close();
  });

  /** 60 open requests of ~240 KB: a `/P/requests` snapshot of ~14 MB, far over the cap. */
  async function ingestHugeRequests(project = P): Promise<void> {
    const big = Array.from({ length: 60 }, (_, i) => ({
      type: 'request.create',
      data: f.request(project, `huge-${i}`, { notes: 'y'.repeat(240_000) }),
    }));
    for (let i = 0; i < big.length; i += 10) await app.ingestOk(big.slice(i, i + 10));
  }

  it('sends a snapshot bigger than the cap whole to a client that reads, and keeps the connection', async () => {
    await ingestHugeRequests();
    const reader = await app.connect('fast');
    const snapshot = await reader.subscribe(`/${P}/requests`);
    expect((snapshot.payload.message as unknown[]).length).toBe(60); // ~14 MB in one frame, far over the 256 KiB cap
    reader.send({ action: 'me' });
    await reader.waitFrame((fr) => fr.action === 'me', 0, 10_000);
    expect(reader.closeInfo).toBeNull();
  });

  it('does not hold a big snapshot still going out against the frames that follow it', async () => {
    await ingestHugeRequests();
    const reader = await app.connect('fast');
    // Not reading for a moment: the ~14 MB snapshot is still unsent when the second answer is written.
    reader.ws.pause();
    reader.send({ action: 'subscribe', payload: { topic: `/${P}/requests` } });
    reader.send({ action: 'subscribe', payload: { topic: `/${P}/project_users/users/fast` } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    reader.ws.resume();
    const list = await reader.waitFrame((fr) => fr.payload.topic === `/${P}/requests`, 0, 10_000);
    expect((list.payload.message as unknown[]).length).toBe(60);
    await reader.waitFrame((fr) => fr.payload.topic === `/${P}/project_users/users/fast`, 0, 10_000);
    expect(reader.closeInfo).toBeNull();
  });

  it('sends a client that reads two snapshots bigger than the cap back to back, and what follows them', async () => {
    await ingestHugeRequests();
    const Q = 'slow-q';
    await app.ingestOk({ type: 'project_user.update', data: f.projectUser(Q, 'fast', 'owner') });
    await ingestHugeRequests(Q);
    const reader = await app.connect('fast');
    // Not reading for a moment: both ~14 MB snapshots are still unsent when a third answer is written after them.
    reader.ws.pause();
    const pause = () => new Promise((resolve) => setTimeout(resolve, 300));
    const small = `/${P}/project_users/users/fast`;
    reader.send({ action: 'subscribe', payload: { topic: `/${P}/requests` } });
    await pause();
    reader.send({ action: 'subscribe', payload: { topic: `/${Q}/requests` } });
    await pause();
    reader.send({ action: 'subscribe', payload: { topic: small } });
    await pause();
    reader.ws.resume();
    await reader.waitFrame((fr) => fr.payload.topic === small, 0, 20_000);
    for (const project of [P, Q]) {
      const list = await reader.waitFrame((fr) => fr.payload.topic === `/${project}/requests`, 0, 10_000);
      expect((list.payload.message as unknown[]).length).toBe(60);
    }
    expect(reader.closeInfo).toBeNull();
    expect(await metricValue(app.metricsPort, 'realtime_slow_consumer_closes_total')).toBe(0);
  });

  it('closes a client that stops reading and keeps asking for snapshots bigger than the cap', async () => {
    await ingestHugeRequests();
    const hoarder = await app.connect('fast');
    hoarder.ws.pause();
    // Each answer is a fresh ~14 MB snapshot: allowing every one of them would let this client grow the server's memory without end.
    for (let i = 0; i < 8; i++) hoarder.send({ action: 'subscribe', payload: { topic: `/${P}/requests` } });
    await until(
      async () => (await metricValue(app.metricsPort, 'realtime_slow_consumer_closes_total')) === 1,
      'the server closing it',
      20_000,
    );
    hoarder.ws.resume();
    expect((await hoarder.waitClosed(20_000)).code).toBe(1013);
    const snapshots = hoarder.frames.filter((fr) => fr.payload.topic === `/${P}/requests`).length;
    expect(snapshots).toBeLessThan(8);
  });

  it('closes a client that stops reading with 1013 once its unsent data passes the cap; the others get every frame', async () => {
    const fast = await app.connect('fast');
    const stuck = await app.connect('stuck');
    await fast.subscribe(`/${P}/requests`);
    await stuck.subscribe(`/${P}/requests`);
    stuck.ws.pause(); // stops reading: the kernel's buffers fill, then the server's
    const before = stuck.frames.length;
    // ~100 KB per frame; 40 MB in all, far more than the loopback socket buffers hold.
    const events = Array.from({ length: 400 }, (_, i) => ({
      type: 'request.create',
      data: f.request(P, `big-${i}`, { notes: 'x'.repeat(100_000) }),
    }));
    for (let i = 0; i < events.length; i += 20) await app.ingestOk(events.slice(i, i + 20));
    await waitFor(() => fast.dataFrames().filter((fr) => fr.payload.message?.request_id?.startsWith('big-')).length === events.length, {
      timeoutMs: 20_000,
      what: 'every frame at the client that reads',
    });
    stuck.ws.resume();
    expect((await stuck.waitClosed(10_000)).code).toBe(1013);
    const gotByStuck = stuck.frames.length - before;
    expect(gotByStuck).toBeLessThan(events.length); // the rest was never queued for it
  });
});
