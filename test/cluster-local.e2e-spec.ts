import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { loadConfig } from '../src/config/app-config';
import { ClusterLocal, findExecutable, repositoryRoot, startClusterLocal } from '../src/ops/cluster-local/cluster-local';
import { PinnedHttps } from '../src/ops/cluster-local/pinned-https';
import { loadCompose, mount } from './helpers/compose-file';
import * as f from './helpers/factories';
import { GENEROUS_LIMITS, INGEST_TOKEN } from './helpers/test-app';
import { TEST_SECRET, userToken } from './helpers/tokens';
import { until, waitFor } from './helpers/wait-for';
import { HandshakeRefused, refusedHandshake, TestClient } from './helpers/ws-client';

/**
 * `npm run cluster:local` end to end: the docker-compose topology (Debian's haproxy on deploy/proxy/haproxy.cfg,
 * TLS at the proxy with make-cert.sh's self-signed certificate, two replica processes with REQUIRE_TLS and
 * TRUST_PROXY, one redis-server) started through startClusterLocal, and driven only as a client would: wss and
 * https through the proxy, trusting exactly its certificate. Docker does not run here, so docker-compose.yml is
 * checked as data: the same proxy file, and ports, addresses, secrets and timeouts that fit together.
 */

const ROOT = repositoryRoot();
const PROXY_CONFIG = join(ROOT, 'deploy', 'proxy', 'haproxy.cfg');

/** The variables deploy/proxy/haproxy.cfg reads (`"${NAME}"` outside comments). */
function proxyConfigVariables(): string[] {
  const code = readFileSync(PROXY_CONFIG, 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n');
  return [...new Set([...code.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]!))].sort();
}

/** haproxy durations (`timeout tunnel 1h`) in milliseconds. */
function haproxyTimeoutMs(name: string): number {
  const m = new RegExp(`^\\s*timeout ${name} (\\d+)(ms|s|m|h)?\\s*$`, 'm').exec(readFileSync(PROXY_CONFIG, 'utf8'));
  if (!m) throw new Error(`no "timeout ${name}" in ${PROXY_CONFIG}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
}

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

  it('runs the proxy configuration docker-compose.yml mounts, given the same variables', () => {
    const proxy = loadCompose().file.services.proxy!;
    const config = proxy.volumes!.map(mount).find((m) => m.target === '/usr/local/etc/haproxy/haproxy.cfg')!;
    expect(resolve(ROOT, config.source)).toBe(h.cluster.proxy.configFile);
    expect(Object.keys(h.cluster.proxy.env).sort()).toEqual(proxyConfigVariables());
    expect(Object.keys(proxy.environment!).sort()).toEqual(proxyConfigVariables());
  });

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

describe('docker-compose.yml (checked as data: Docker does not run here)', () => {
  const { file } = loadCompose();
  const services = file.services;
  const replicaNames = ['realtime-1', 'realtime-2'];

  it('has Redis, two replicas built from the Dockerfile, the certificate maker, the proxy, and the demo traffic under a profile', () => {
    expect(Object.keys(services).sort()).toEqual(['certs', 'demo-traffic', 'proxy', 'realtime-1', 'realtime-2', 'redis']);
    expect(services.redis!.image).toMatch(/^redis:7/);
    expect(services.redis!.command).toEqual(['redis-server', '--save', '', '--appendonly', 'no']);
    for (const name of replicaNames) {
      expect(services[name]!.build).toBe('.');
      expect(services[name]!.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    }
    expect(existsSync(join(ROOT, 'Dockerfile'))).toBe(true);
    expect(services.proxy!.image).toMatch(/^haproxy:/);
    expect(services['demo-traffic']!.profiles).toEqual(['demo']);
    for (const name of ['redis', 'realtime-1', 'realtime-2', 'certs', 'proxy']) expect(services[name]!.profiles).toBeUndefined();
  });

  it('gives the replicas a configuration the service accepts: Redis, TLS required, only the proxy trusted, a drain inside the stop grace', () => {
    const proxyIp = (services.proxy!.networks as Record<string, { ipv4_address: string }>).realtime!.ipv4_address;
    const subnet = file.networks.realtime!.ipam!.config![0]!.subnet;
    expect(ipaddr.IPv4.parse(proxyIp).match(ipaddr.IPv4.parseCIDR(subnet))).toBe(true);
    for (const name of replicaNames) {
      const env = services[name]!.environment!;
      expect(env.REDIS_URL).toBe('redis://redis:6379');
      const config = loadConfig(env);
      expect(config.requireTls).toBe(true);
      expect(config.trustProxy).toEqual([proxyIp]);
      expect(config.tls).toBeUndefined();
      expect(env.GLOBAL_SECRET).toMatch(/change-me/);
      expect(env.INGEST_TOKEN).toMatch(/change-me/);
      const graceMs = Number(/^(\d+)s$/.exec(services[name]!.stop_grace_period!)![1]) * 1000;
      expect(graceMs).toBeGreaterThan(config.shutdownDrainMs + 5000);
      expect(services[name]!.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${config.port}/readyz`);
    }
  });

  it('takes the secrets from the environment or .env, the same for the replicas and the demo traffic', () => {
    const custom = loadCompose({ GLOBAL_SECRET: 'from-dot-env-secret', INGEST_TOKEN: 'from-dot-env-token' }).file.services;
    for (const name of [...replicaNames, 'demo-traffic']) {
      expect(custom[name]!.environment!.GLOBAL_SECRET).toBe('from-dot-env-secret');
      expect(custom[name]!.environment!.INGEST_TOKEN).toBe('from-dot-env-token');
    }
  });

  it('points the proxy at the replicas, the certificate at the file make-cert.sh writes, and publishes its port on loopback', () => {
    const proxy = services.proxy!;
    const env = proxy.environment!;
    for (const [i, name] of replicaNames.entries()) {
      expect(env[`REALTIME_${i + 1}_ADDR`]).toBe(`${name}:${services[name]!.environment!.PORT}`);
    }
    const [publishAddr, , containerPort] = proxy.ports![0]!.split(':');
    expect(publishAddr).toBe('127.0.0.1');
    expect(containerPort).toBe(env.PROXY_PORT);
    const certsInProxy = proxy.volumes!.map(mount).find((m) => m.source === 'certs')!;
    expect(certsInProxy.readOnly).toBe(true);
    expect(env.PROXY_CERT_PEM).toBe(`${certsInProxy.target}/realtime.pem`);
    expect(proxy.depends_on!.certs).toEqual({ condition: 'service_completed_successfully' });

    const certs = services.certs!;
    const script = certs.volumes!.map(mount).find((m) => m.target === '/make-cert.sh')!;
    expect(resolve(ROOT, script.source)).toBe(join(ROOT, 'deploy', 'proxy', 'make-cert.sh'));
    const certsDir = certs.volumes!.map(mount).find((m) => m.source === 'certs')!.target;
    expect(String(certs.command)).toContain(`/make-cert.sh ${certsDir}`);
    expect(certsDir).toBe(certsInProxy.target);
  });

  it('runs the demo traffic through the proxy over https, trusting the certificate made for it', () => {
    const demo = services['demo-traffic']!;
    const env = demo.environment!;
    expect(env.INGEST_URL).toBe(`https://proxy:${services.proxy!.environment!.PROXY_PORT}`);
    const certs = demo.volumes!.map(mount).find((m) => m.source === 'certs')!;
    expect(env.INGEST_CA_FILE).toBe(`${certs.target}/realtime.crt`);
    expect(services.certs!.environment!.CERT_SANS).toContain('DNS:proxy');
    expect(demo.image).toBe(services['realtime-1']!.image);
    const command = demo.command as string[];
    expect(command[0]).toBe('node');
    expect(existsSync(join(ROOT, command[1]!))).toBe(true); // dist/, as the image holds it (npm test builds first)
  });

  it("is a configuration haproxy accepts with compose's variables, health-checking /readyz with a tunnel timeout far above the heartbeat", () => {
    const haproxy = findExecutable('haproxy');
    if (!haproxy) throw new Error('haproxy not found: apt-get install -y haproxy');
    const dir = mkdtempSync(join(tmpdir(), 'rt-compose-proxy-'));
    try {
      execFileSync('sh', [join(ROOT, 'deploy', 'proxy', 'make-cert.sh'), dir], { stdio: 'pipe' });
      const env = { ...services.proxy!.environment!, PROXY_CERT_PEM: join(dir, 'realtime.pem'), PATH: process.env.PATH };
      // The replica names do not resolve outside compose: init-addr lets haproxy start and resolve them later.
      const out = execFileSync(haproxy, ['-c', '-f', PROXY_CONFIG], { env, stdio: 'pipe' }).toString();
      expect(out).toContain('Configuration file is valid');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const text = readFileSync(PROXY_CONFIG, 'utf8');
    expect(text).toMatch(/^\s*option httpchk GET \/readyz\s*$/m);
    const heartbeatMs = loadConfig(services['realtime-1']!.environment).ws.heartbeatIntervalMs;
    expect(haproxyTimeoutMs('tunnel')).toBeGreaterThanOrEqual(10 * heartbeatMs);
    expect(haproxyTimeoutMs('client')).toBeGreaterThan(heartbeatMs);
  });
});
