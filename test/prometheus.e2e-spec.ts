import * as f from './helpers/factories';
import { scrape, series } from './helpers/metrics-scrape';
import { RedisServer } from './helpers/redis-server';
import { ReplicaProcess } from './helpers/replica-process';
import { TestApp, startTestApp } from './helpers/test-app';
import { userToken } from './helpers/tokens';
import { refusedHandshake } from './helpers/ws-client';
import { until, waitFor } from './helpers/wait-for';

/** What an operator's Prometheus sees: a scrape before and after a scripted session, each family moving as it should. */

describe('Prometheus /metrics on METRICS_PORT', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ RATE_FRAMES_PER_S: '20', RATE_FRAMES_BURST: '12', MAX_SUBSCRIPTIONS_PER_CONN: '3' });
  });
  afterAll(() => app.close());

  it('is served off the public port only', async () => {
    expect(app.metricsPort).not.toBe(app.port);
    expect((await fetch(`${app.httpUrl}/metrics`)).status).toBe(404);
    const res = await fetch(`http://127.0.0.1:${app.metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect((await fetch(`http://127.0.0.1:${app.metricsPort}/other`)).status).toBe(404);
  });

  it('moves every family as a scripted session goes, with labels from fixed sets only', async () => {
    const P = `prom-${Date.now()}`;
    const before = await scrape(app.metricsPort);
    const delta = (after: Map<string, number>, name: string, labels: Record<string, string> = {}) =>
      series(after, name, labels) - series(before, name, labels);

    await app.ingestOk([
      { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
      { type: 'request.create', data: f.request(P, 'r1', { status: 100 }) },
    ]);
    // The same document again: a duplicate; an older one: stale; a bad event: invalid.
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'r1', { status: 100, updatedAt: '2020-01-01T00:00:00.000Z' }) });
    expect((await app.ingest({ type: 'request.update', data: { status: 200 } })).status).toBe(400);

    const c = await app.connect('owner');
    await c.subscribe(`/${P}/requests`);
    c.send({ action: 'me' });
    c.send('not json');
    await c.sync();
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'r1', { status: 200 }) });
    await c.waitFrame((fr) => fr.payload.method === 'UPDATE');
    // Over the subscription cap, then over the frame rate.
    for (const t of ['/x/requests', '/y/requests', '/z/requests']) c.send({ action: 'subscribe', payload: { topic: t } });
    await c.waitFrame((fr) => fr.payload.code === 'too_many_subscriptions');
    for (let i = 0; i < 40; i++) c.send({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
    await c.waitFrame((fr) => fr.payload.code === 'rate_limited');
    // Refused handshakes: a bad token, another path.
    expect((await refusedHandshake(`${app.wsUrl}?token=nope`)).status).toBe(401);
    expect((await refusedHandshake(app.wsUrl.replace(/\/$/, '/elsewhere'))).status).toBe(404);

    const after = await until(async () => {
      const now = await scrape(app.metricsPort);
      return series(now, 'realtime_delivery_latency_seconds_count') > series(before, 'realtime_delivery_latency_seconds_count')
        ? now
        : null;
    }, 'the delivery latency to be observed');
    expect(series(after, 'realtime_connections_open')).toBeGreaterThanOrEqual(1);
    expect(series(after, 'realtime_subscriptions')).toBeGreaterThanOrEqual(1);
    const ingested = (type: string, outcome: string) =>
      delta(after, 'realtime_events_ingested_total', { transport: 'http', type, outcome });
    expect(ingested('project_user.create', 'applied')).toBe(1);
    expect(ingested('request.create', 'applied')).toBe(1);
    expect(ingested('request.create', 'stale')).toBe(1);
    expect(ingested('request.update', 'invalid')).toBe(1);
    expect(ingested('request.update', 'applied')).toBe(1);
    expect(delta(after, 'realtime_frames_in_total', { action: 'subscribe' })).toBeGreaterThanOrEqual(4);
    expect(delta(after, 'realtime_frames_in_total', { action: 'me' })).toBe(1);
    expect(delta(after, 'realtime_frames_in_total', { action: 'invalid' })).toBe(1);
    expect(delta(after, 'realtime_frames_out_total', { action: 'publish' })).toBeGreaterThanOrEqual(2);
    expect(delta(after, 'realtime_frames_out_total', { action: 'me' })).toBe(1);
    expect(delta(after, 'realtime_frames_out_total', { action: 'error' })).toBeGreaterThanOrEqual(3);
    expect(delta(after, 'realtime_frames_out_total', { action: 'heartbeat' })).toBeGreaterThanOrEqual(1);
    expect(delta(after, 'realtime_limit_refusals_total', { limit: 'MAX_SUBSCRIPTIONS_PER_CONN' })).toBe(1);
    expect(delta(after, 'realtime_limit_refusals_total', { limit: 'RATE_FRAMES_PER_S' })).toBeGreaterThanOrEqual(1);
    expect(delta(after, 'realtime_handshake_refusals_total', { reason: 'unauthorized' })).toBe(1);
    expect(delta(after, 'realtime_handshake_refusals_total', { reason: 'not_found' })).toBe(1);
    expect(delta(after, 'realtime_auth_failures_total', { reason: 'invalid' })).toBe(1);
    expect(series(after, 'realtime_draining')).toBe(0);
    expect(series(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    // No series names a user, project, request or token.
    const text = [...after.keys()].join('\n');
    for (const secret of [P, 'owner', 'r1', userToken('owner')]) expect(text).not.toContain(secret);
    c.close();
    await waitFor(() => c.closeInfo, { what: 'the client to close' });
  });
});

describe('Prometheus on a replica of the Redis engine', () => {
  let redis: RedisServer;
  let replica: ReplicaProcess;
  beforeAll(async () => {
    redis = await RedisServer.start();
    replica = await ReplicaProcess.start({ REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await replica?.kill('SIGTERM');
    await redis?.stop();
  });

  it('counts stream ingest under its transport and Redis reconnects after an outage', async () => {
    const P = `prom-r-${Date.now()}`;
    const before = await scrape(replica.metricsPort);
    const conns = await redis.connections();
    try {
      await conns.command.xadd(
        'rt:ingest',
        '*',
        'event',
        JSON.stringify({ type: 'request.create', data: f.request(P, 'r1', { status: 100 }) }),
      );
      await until(
        async () =>
          series(await scrape(replica.metricsPort), 'realtime_events_ingested_total', {
            transport: 'stream',
            type: 'request.create',
            outcome: 'applied',
          }) === 1,
        'the stream event to be counted',
      );
      // Every client connection of the replica dropped by Redis: each comes back and is counted.
      await conns.command.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await until(async () => {
        const now = await scrape(replica.metricsPort);
        return (
          series(now, 'realtime_redis_reconnects_total', { connection: 'command' }) >
          series(before, 'realtime_redis_reconnects_total', { connection: 'command' })
        );
      }, 'the command connection to be counted as reconnected');
      expect((await replica.readyz()).status).toBe(200);
    } finally {
      await conns.close();
    }
  });
});
