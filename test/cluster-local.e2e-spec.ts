import { ClusterLocal, startClusterLocal } from '../src/ops/cluster-local/cluster-local';
import { PinnedHttps } from '../src/ops/cluster-local/pinned-https';
import * as f from './helpers/factories';
import { GENEROUS_LIMITS, INGEST_TOKEN } from './helpers/test-app';
import { TEST_SECRET, userToken } from './helpers/tokens';
import { until, waitFor } from './helpers/wait-for';
import { HandshakeRefused, refusedHandshake, TestClient } from './helpers/ws-client';

/**
 * `npm run cluster:local` end to end: the docker-compose topology (Debian's haproxy on deploy/proxy/haproxy.cfg,
 * TLS at the proxy with make-cert.sh's self-signed certificate, two replica processes with REQUIRE_TLS and
 * TRUST_PROXY, one redis-server) started through startClusterLocal, and driven only as a client would: wss and
 * https through the proxy, trusting exactly its certificate.
 */

interface Harness {
  cluster: ClusterLocal;
  https: PinnedHttps;
  clients: TestClient[];
}

function harness(env: Record<string, string>): Harness {
  const h = { clients: [] } as unknown as Harness;
  beforeAll(async () => {
    h.cluster = await startClusterLocal({
      port: 0,
      env: { GLOBAL_SECRET: TEST_SECRET, INGEST_TOKEN, ...GENEROUS_LIMITS, ...env },
    });
    // No keep-alive: an idle HTTP connection must not count as a replica's load when the tests place sockets.
    h.https = new PinnedHttps(h.cluster.certPem, false);
  }, 60_000);
  afterAll(async () => {
    for (const c of h.clients) c.close();
    h.https?.close();
    await h.cluster?.stop();
  }, 30_000);
  return h;
}

/** A client through the proxy over wss, verifying the proxy's certificate (for 127.0.0.1) against the one made. */
async function connect(h: Harness, userId: string, headers?: Record<string, string>): Promise<TestClient> {
  const c = await TestClient.connect(`${h.cluster.wssUrl}?token=${encodeURIComponent(`JWT ${userToken(userId)}`)}`, {
    ws: { ca: h.cluster.certPem, ...(headers ? { headers } : {}) },
  });
  h.clients.push(c);
  return c;
}

function ingest(h: Harness, body: unknown) {
  return h.https.ingest(h.cluster.httpsUrl, INGEST_TOKEN, body);
}

const isRequest = (topic: string, requestId: string) => (fr: { action: string; payload: any }) =>
  fr.action === 'publish' && fr.payload.topic === topic && fr.payload.message?.request_id === requestId;

/** Four owners through the proxy, subscribed to the topic: with least-connections balancing, some on each replica. */
async function placed(h: Harness, topic: string): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (let i = 0; i < 4; i++) clients.push(await connect(h, 'owner'));
  for (const c of clients) await c.subscribe(topic);
  return clients;
}

/**
 * Once one replica is gone: the clients it held (closed by the proxy) and the others (a heartbeat round trip
 * answered). Each client is asked, so one whose close is still on its way is not taken for a survivor. Both
 * groups must be there, or the proxy did not spread the sockets and the test would prove nothing.
 */
async function split(clients: TestClient[]): Promise<{ dropped: TestClient[]; survivors: TestClient[] }> {
  const outcomes = await Promise.all(
    clients.map((c) => {
      const from = c.frames.length;
      if (c.closeInfo === null) c.send({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
      const pong = (fr: { action: string; payload: any }) => fr.action === 'heartbeat' && fr.payload.message?.text === 'pong';
      return waitFor(() => (c.closeInfo !== null ? 'dropped' : c.frames.slice(from).some(pong) ? 'open' : null), {
        timeoutMs: 5000,
        what: 'a pong or a close',
      });
    }),
  );
  const dropped = clients.filter((_, i) => outcomes[i] === 'dropped');
  const survivors = clients.filter((_, i) => outcomes[i] === 'open');
  expect(dropped.length).toBeGreaterThan(0);
  expect(survivors.length).toBeGreaterThan(0);
  return { dropped, survivors };
}

/** Replica JSON log lines (stdout), parsed; other output is skipped. */
function logLines(h: Harness): any[] {
  const lines: any[] = [];
  for (const r of h.cluster.replicas) {
    for (const line of r.process.output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line));
      } catch {
        // a partial line at the end of the buffer
      }
    }
  }
  return lines;
}

describe('cluster:local: haproxy over two replicas on one redis-server', () => {
  // LOG_LEVEL info: the refused-handshake lines name the client address the replica counted.
  const h = harness({ LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '0' });

  it('serves wss and https ingest through the proxy: subscribe, ingest, receive', async () => {
    const P = `cl-basic-${Date.now()}`;
    const ready = await h.https.send(`${h.cluster.httpsUrl}/readyz`);
    expect(ready.status).toBe(200);
    await ingest(h, { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') });
    const c = await connect(h, 'owner');
    const snapshot = await c.subscribe(`/${P}/requests`);
    expect(snapshot).toMatchObject({ action: 'publish', payload: { method: 'CREATE', message: [] } });
    expect(await ingest(h, { type: 'request.create', data: f.request(P, 'r1', { status: 100 }) })).toEqual({
      accepted: 1,
      duplicates: 0,
      stale: 0,
    });
    const frame = await c.waitFrame(isRequest(`/${P}/requests`, 'r1'));
    expect(frame.payload.method).toBe('CREATE');
  });

  it('replicas take only what came through the proxy: a direct plain handshake or ingest gets 426, probes stay open', async () => {
    for (const r of h.cluster.replicas) {
      const refused = await refusedHandshake(`ws://127.0.0.1:${r.port}/?token=${encodeURIComponent(`JWT ${userToken('owner')}`)}`);
      expect(refused.status).toBe(426);
      expect(JSON.parse(refused.body).error.code).toBe('tls_required');
      const direct = await fetch(`${r.httpUrl}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST_TOKEN}` },
        body: JSON.stringify({ type: 'project_user.create', data: f.projectUser('cl-direct', 'owner', 'owner') }),
      });
      expect(direct.status).toBe(426);
      expect(((await direct.json()) as any).error.code).toBe('tls_required');
      expect((await fetch(`${r.httpUrl}/readyz`)).status).toBe(200);
    }
  });

  it("replaces a client's own X-Forwarded-Proto and X-Forwarded-For instead of passing them on", async () => {
    // A client claiming plain http is still accepted: the proxy says https, and only the proxy is trusted.
    const c = await connect(h, 'owner', { 'X-Forwarded-Proto': 'http' });
    await c.sync();
    // A spoofed address never reaches the replica: the refusal is logged under the address the proxy saw.
    const spoofed = '203.0.113.77';
    let refused: HandshakeRefused | null = null;
    try {
      const bad = await TestClient.connect(`${h.cluster.wssUrl}?token=not-a-jwt`, {
        ws: { ca: h.cluster.certPem, headers: { 'X-Forwarded-For': spoofed } },
      });
      bad.close();
    } catch (err) {
      if (err instanceof HandshakeRefused) refused = err;
      else throw err;
    }
    expect(refused?.status).toBe(401);
    const line = await until(
      () => Promise.resolve(logLines(h).find((l) => l.msg === 'connection refused' && l.reason !== undefined)),
      'the refused handshake in a replica log',
    );
    expect(line.ip).toBe('127.0.0.1');
    expect(h.cluster.replicas.some((r) => r.process.output.includes(spoofed))).toBe(false);
  });

  it('a replica killed: its clients reconnect through the proxy to the other, resubscribe and get new events', async () => {
    const P = `cl-kill-${Date.now()}`;
    const topic = `/${P}/requests`;
    await ingest(h, [
      { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
      { type: 'request.create', data: f.request(P, 'before', { status: 100 }) },
    ]);
    // The proxy balances by least connections: four new sockets land on both replicas, whatever the earlier
    // tests left counted there (at most two).
    const clients = await placed(h, topic);

    await h.cluster.replicas[0].process.stop('SIGKILL');
    await waitFor(() => clients.some((c) => c.closeInfo !== null), { timeoutMs: 5000, what: 'the clients of the killed replica to drop' });
    const { dropped, survivors } = await split(clients);

    // What a client does after a drop: connect to the same URL again, and subscribe again.
    const back = await Promise.all(dropped.map(() => connect(h, 'owner')));
    for (const c of back) expect((await c.subscribe(topic)).payload.message.map((r: any) => r.request_id)).toEqual(['before']);
    await ingest(h, { type: 'request.create', data: f.request(P, 'after', { status: 100 }) });
    for (const c of [...back, ...survivors]) await c.waitFrame(isRequest(topic, 'after'));
    expect((await h.https.send(`${h.cluster.httpsUrl}/readyz`)).status).toBe(200);
  });
});

describe('cluster:local: a replica draining on SIGTERM leaves the pool', () => {
  const h = harness({ LOG_LEVEL: 'warn', SHUTDOWN_DRAIN_MS: '1500' });

  it('refuses nothing through the proxy while it drains; its clients are closed with 1001 and come back on the other', async () => {
    const P = `cl-drain-${Date.now()}`;
    const topic = `/${P}/requests`;
    await ingest(h, { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') });
    const clients = await placed(h, topic);

    const draining = h.cluster.replicas[0];
    draining.process.proc.kill('SIGTERM');
    // Still listening, but answering 503 to probes and handshakes until its window is over.
    await until(async () => (await fetch(`${draining.httpUrl}/readyz`)).status === 503, 'the replica to report draining', 5000);

    // New handshakes and ingest through the proxy all succeed meanwhile (retried on, or sent to, the other replica).
    const newcomers = await Promise.all([0, 1, 2, 3].map(() => connect(h, 'owner')));
    await ingest(h, { type: 'request.create', data: f.request(P, 'during', { status: 100 }) });

    await draining.process.waitExit();
    expect(draining.process.proc.exitCode).toBe(0);
    const { dropped, survivors } = await split(clients);
    for (const c of dropped) expect(c.closeInfo!.code).toBe(1001);
    // Every connection made during the drain went to the replica that stays.
    for (const c of newcomers) await c.sync();

    const back = await Promise.all(dropped.map(() => connect(h, 'owner')));
    for (const c of back) expect((await c.subscribe(topic)).payload.message.map((r: any) => r.request_id)).toEqual(['during']);
    await ingest(h, { type: 'request.create', data: f.request(P, 'after', { status: 100 }) });
    for (const c of [...back, ...survivors]) await c.waitFrame(isRequest(topic, 'after'));
  });
});
