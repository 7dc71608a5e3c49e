import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { Express } from 'express';
import * as f from './helpers/factories';
import { insecureHttps, INGEST_TOKEN, startTestApp, TestApp } from './helpers/test-app';
import { userToken } from './helpers/tokens';
import { until } from './helpers/wait-for';
import { HandshakeRefused, TestClient, refusedHandshake } from './helpers/ws-client';

/**
 * operations.md §2-3: TLS served by the service (TLS_CERT_FILE/TLS_KEY_FILE) and its certificate rotation,
 * REQUIRE_TLS, and TRUST_PROXY deciding which X-Forwarded-* headers count (the per-IP handshake limit).
 * Certificates are made by the openssl CLI in a temporary directory.
 */

interface Pair {
  cert: string;
  key: string;
  fingerprint256: string;
}

function requireOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
  } catch {
    throw new Error('these tests make certificates with the openssl CLI, which was not found: apt-get install -y openssl');
  }
}

/** A self-signed P-256 certificate for 127.0.0.1/localhost and its key, as PEM text (random serial). */
function makePair(dir: string, cn: string): Pair {
  const cert = join(dir, `${cn}.crt`);
  const key = join(dir, `${cn}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'pipe' },
  );
  const certPem = readFileSync(cert, 'utf8');
  return { cert: certPem, key: readFileSync(key, 'utf8'), fingerprint256: new X509Certificate(certPem).fingerprint256 };
}

/** The fingerprint of the certificate a new TLS connection to the port is shown. */
function peerFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}

const refusal = refusedHandshake;

async function expectAccepted(url: string, opts: Parameters<typeof TestClient.connect>[1] = {}): Promise<TestClient> {
  const c = await TestClient.connect(url, opts);
  c.send({ action: 'me' });
  await c.waitFrame((fr) => fr.action === 'me');
  return c;
}

const tokenQuery = (userId: string) => `?token=${encodeURIComponent(`JWT ${userToken(userId)}`)}`;

async function ingestPlain(app: TestApp, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${app.httpUrl}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST_TOKEN}`, ...headers },
    body: JSON.stringify({ type: 'project_user.create', data: f.projectUser('p-plain', 'u-plain', 'owner') }),
  });
  return { status: res.status, body: await res.json() };
}

let root: string;
beforeAll(() => {
  requireOpenssl();
  root = mkdtempSync(join(tmpdir(), 'rt-tls-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('TLS served by the service (TLS_CERT_FILE, TLS_KEY_FILE)', () => {
  let app: TestApp;
  let pair: Pair;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(root, 'plain-'));
    pair = makePair(dir, 'localhost');
    app = await startTestApp({ TLS_CERT_FILE: join(dir, 'localhost.crt'), TLS_KEY_FILE: join(dir, 'localhost.key') });
  });
  afterAll(() => app.close());

  it('serves https and wss on PORT', () => {
    expect(app.httpUrl).toBe(`https://127.0.0.1:${app.port}`);
    expect(app.wsUrl).toBe(`wss://127.0.0.1:${app.port}/`);
  });

  it('answers /healthz over https', async () => {
    const res = await insecureHttps(`${app.httpUrl}/healthz`);
    expect(res.status).toBe(200);
  });

  it('takes POST /v1/events over https, and a wss:// client with a token gets its snapshot and live frames', async () => {
    await app.ingestOk({ type: 'project_user.create', data: f.projectUser('p1', 'owner1', 'owner') });
    // Verified against the certificate itself (its SAN names 127.0.0.1): the pair in the files is the one served.
    const c = await TestClient.connect(`${app.wsUrl}${tokenQuery('owner1')}`, { ws: { ca: pair.cert } });
    app.clients.push(c);
    const snap = await c.subscribe('/p1/requests');
    expect(snap.payload.message).toEqual([]);
    await app.ingestOk({ type: 'request.create', data: f.request('p1', 'r1', { status: 100 }) });
    const live = await c.waitFrame((fr) => fr.payload.method === 'CREATE' && !Array.isArray(fr.payload.message));
    expect(live.payload.message).toMatchObject({ request_id: 'r1' });
  });

  it('refuses a client that does not trust the certificate (the TLS handshake is real)', async () => {
    await expect(TestClient.connect(`${app.wsUrl}${tokenQuery('owner1')}`)).rejects.toThrow(/self.signed|certificate/i);
  });
});

describe('certificate rotation', () => {
  let app: TestApp;
  let dir: string;
  let first: Pair;
  let generation = 0;

  /** The layout of a Kubernetes Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<generation>/. */
  function publish(pair: { cert: string; key: string }): string {
    generation += 1;
    const data = join(dir, `..gen${generation}`);
    mkdirSync(data);
    writeFileSync(join(data, 'tls.crt'), pair.cert);
    writeFileSync(join(data, 'tls.key'), pair.key);
    symlinkSync(`..gen${generation}`, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // the atomic swap the kubelet does
    return data;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(root, 'secret-'));
    first = makePair(root, 'first');
    publish(first);
    symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(dir, 'tls.key'));
    app = await startTestApp({ TLS_CERT_FILE: join(dir, 'tls.crt'), TLS_KEY_FILE: join(dir, 'tls.key') });
    await app.ingestOk({ type: 'project_user.create', data: f.projectUser('p1', 'owner1', 'owner') });
  });
  afterAll(() => app.close());

  it('a swapped pair is served to new connections while a connection opened before keeps receiving frames', async () => {
    expect(await peerFingerprint(app.port)).toBe(first.fingerprint256);
    const before = await app.connect('owner1');
    await before.subscribe('/p1/requests');

    const second = makePair(root, 'second');
    expect(second.fingerprint256).not.toBe(first.fingerprint256);
    publish(second);
    await until(async () => (await peerFingerprint(app.port)) === second.fingerprint256, 'the new certificate to be served', 10_000);
    expect(app.tlsReloader!.stats.reloads).toBeGreaterThanOrEqual(1);

    // The connection from before the rotation is still open and still served.
    const from = before.frames.length;
    await app.ingestOk({ type: 'request.create', data: f.request('p1', 'r-rot-1', { status: 100 }) });
    const live = await before.waitFrame((fr) => fr.payload.message?.request_id === 'r-rot-1', from);
    expect(live.payload.method).toBe('CREATE');
    expect(before.closeInfo).toBeNull();

    // A new wss:// client that trusts only the new certificate connects.
    const after = await expectAccepted(`${app.wsUrl}${tokenQuery('owner1')}`, { ws: { ca: second.cert } });
    after.close();
  });

  it('a half-done rotation (the new certificate with the old key) keeps the pair in service, until the key follows', async () => {
    const served = await peerFingerprint(app.port);
    const current = { cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') };
    expect(new X509Certificate(current.cert).fingerprint256).toBe(served);
    const before = await app.connect('owner1');
    await before.subscribe('/p1/requests');
    const rejectedBefore = app.tlsReloader!.stats.rejected;

    const third = makePair(root, 'third');
    const data = publish({ cert: third.cert, key: current.key });
    await until(() => Promise.resolve(app.tlsReloader!.stats.rejected > rejectedBefore), 'the mismatched pair to be looked at', 10_000);

    // Still serving the old pair, still up, the connection still served.
    expect(await peerFingerprint(app.port)).toBe(served);
    expect((await insecureHttps(`${app.httpUrl}/healthz`)).status).toBe(200);
    const from = before.frames.length;
    await app.ingestOk({ type: 'request.create', data: f.request('p1', 'r-rot-2', { status: 100 }) });
    await before.waitFrame((fr) => fr.payload.message?.request_id === 'r-rot-2', from);

    // The key is written in place: the pair fits now and goes into service.
    writeFileSync(join(data, 'tls.key'), third.key);
    await until(async () => (await peerFingerprint(app.port)) === third.fingerprint256, 'the completed rotation to be served', 10_000);
    expect(before.closeInfo).toBeNull();
    const after = await expectAccepted(`${app.wsUrl}${tokenQuery('owner1')}`, { ws: { ca: third.cert } });
    after.close();
  });

  it('files rewritten in place (no symlinks) are picked up too, a half-written pair first refused', async () => {
    const plainDir = mkdtempSync(join(root, 'inplace-'));
    const a = makePair(root, 'inplace-a');
    const certFile = join(plainDir, 'cert.pem');
    const keyFile = join(plainDir, 'key.pem');
    writeFileSync(certFile, a.cert);
    writeFileSync(keyFile, a.key);
    const other = await startTestApp({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile });
    try {
      const b = makePair(root, 'inplace-b');
      writeFileSync(certFile, b.cert);
      await until(() => Promise.resolve(other.tlsReloader!.stats.rejected > 0), 'the half-written pair to be refused', 10_000);
      expect(await peerFingerprint(other.port)).toBe(a.fingerprint256);
      writeFileSync(keyFile, b.key);
      await until(async () => (await peerFingerprint(other.port)) === b.fingerprint256, 'the rewritten pair to be served', 10_000);
    } finally {
      await other.close();
    }
  });
});

describe('REQUIRE_TLS', () => {
  describe('without TLS and without TRUST_PROXY', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp({ REQUIRE_TLS: 'true' });
    });
    afterAll(() => app.close());

    it('refuses a plain ws:// handshake with 426 tls_required', async () => {
      const r = await refusal(`${app.wsUrl}${tokenQuery('u1')}`);
      expect(r.status).toBe(426);
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'tls_required' } });
    });

    it('ignores X-Forwarded-Proto: https from a peer it does not trust', async () => {
      const r = await refusal(`${app.wsUrl}${tokenQuery('u1')}`, { 'x-forwarded-proto': 'https' });
      expect(r.status).toBe(426);
      expect(JSON.parse(r.body).error.code).toBe('tls_required');
      const ingest = await ingestPlain(app, { 'x-forwarded-proto': 'https' });
      expect(ingest.status).toBe(426);
    });

    it('answers POST /v1/events over plain http with 426 and a JSON body', async () => {
      const r = await ingestPlain(app);
      expect(r.status).toBe(426);
      expect(r.body).toMatchObject({ error: { code: 'tls_required' } });
    });

    it('keeps /healthz reachable over plain http', async () => {
      expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
    });
  });

  describe('behind a trusted proxy (TRUST_PROXY=loopback)', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp({ REQUIRE_TLS: 'true', TRUST_PROXY: 'loopback' });
    });
    afterAll(() => app.close());

    it('accepts a handshake the proxy marks X-Forwarded-Proto: https, and still refuses one it does not', async () => {
      const c = await expectAccepted(`${app.wsUrl}${tokenQuery('u1')}`, { headers: { 'x-forwarded-proto': 'https' } });
      c.close();
      expect((await refusal(`${app.wsUrl}${tokenQuery('u1')}`)).status).toBe(426);
      expect((await refusal(`${app.wsUrl}${tokenQuery('u1')}`, { 'x-forwarded-proto': 'http' })).status).toBe(426);
    });

    it('takes POST /v1/events the proxy marks https', async () => {
      expect((await ingestPlain(app, { 'x-forwarded-proto': 'https' })).status).toBe(202);
      expect((await ingestPlain(app)).status).toBe(426);
    });
  });

  describe('with TLS served by the service', () => {
    let app: TestApp;
    beforeAll(async () => {
      const dir = mkdtempSync(join(root, 'require-'));
      makePair(dir, 'localhost');
      app = await startTestApp({
        REQUIRE_TLS: 'true',
        TLS_CERT_FILE: join(dir, 'localhost.crt'),
        TLS_KEY_FILE: join(dir, 'localhost.key'),
      });
    });
    afterAll(() => app.close());

    it('accepts wss:// handshakes and https ingest', async () => {
      await app.ingestOk({ type: 'project_user.create', data: f.projectUser('p1', 'owner1', 'owner') });
      const c = await app.connect('owner1');
      expect((await c.subscribe('/p1/requests')).payload.method).toBe('CREATE');
    });
  });
});

describe('TRUST_PROXY and the per-IP handshake limit', () => {
  const limits = { RATE_CONN_PER_IP_PER_MIN: '3', RATE_CONN_PER_USER_PER_MIN: '1000' };

  function expectIpLimit(r: HandshakeRefused): void {
    expect(r.status).toBe(429);
    const body = JSON.parse(r.body);
    expect(body.error).toMatchObject({ code: 'rate_limited', limit: 3, window_s: 60 });
    expect(body.error.message).toContain('RATE_CONN_PER_IP_PER_MIN');
    expect(body.error.retry_after_s).toBeGreaterThanOrEqual(1);
    expect(r.headers['retry-after']).toBe(String(body.error.retry_after_s));
  }

  it('without TRUST_PROXY ignores X-Forwarded-For: different forwarded addresses count as the one peer', async () => {
    const app = await startTestApp(limits);
    try {
      for (let i = 1; i <= 3; i += 1) {
        const c = await expectAccepted(`${app.wsUrl}${tokenQuery(`u${i}`)}`, { headers: { 'x-forwarded-for': `203.0.113.${i}` } });
        c.close();
      }
      expectIpLimit(await refusal(`${app.wsUrl}${tokenQuery('u4')}`, { 'x-forwarded-for': '203.0.113.4' }));
      expect((app.app.getHttpAdapter().getInstance() as Express).get('trust proxy fn')('127.0.0.1', 0)).toBe(false);
    } finally {
      await app.close();
    }
  });

  it('with TRUST_PROXY=loopback counts each forwarded address on its own', async () => {
    const app = await startTestApp({ ...limits, TRUST_PROXY: 'loopback' });
    try {
      for (let i = 1; i <= 4; i += 1) {
        const c = await expectAccepted(`${app.wsUrl}${tokenQuery(`u${i}`)}`, { headers: { 'x-forwarded-for': `203.0.113.${i}` } });
        c.close();
      }
      for (let i = 1; i <= 3; i += 1) {
        const c = await expectAccepted(`${app.wsUrl}${tokenQuery(`v${i}`)}`, { headers: { 'x-forwarded-for': '198.51.100.7' } });
        c.close();
      }
      expectIpLimit(await refusal(`${app.wsUrl}${tokenQuery('v4')}`, { 'x-forwarded-for': '198.51.100.7' }));
      // Express's req.ip and req.protocol use the same trust as the WebSocket side.
      expect((app.app.getHttpAdapter().getInstance() as Express).get('trust proxy fn')('127.0.0.1', 0)).toBe(true);
    } finally {
      await app.close();
    }
  });
});

describe('TLS configuration errors at start', () => {
  let dir: string;
  let pair: Pair;
  let other: Pair;
  beforeAll(() => {
    dir = mkdtempSync(join(root, 'errors-'));
    pair = makePair(dir, 'good');
    other = makePair(dir, 'other');
  });

  it('a missing certificate file stops the start with an error naming TLS_CERT_FILE', async () => {
    await expect(startTestApp({ TLS_CERT_FILE: join(dir, 'missing.crt'), TLS_KEY_FILE: join(dir, 'good.key') })).rejects.toThrow(
      /TLS_CERT_FILE: cannot read .*missing\.crt/,
    );
  });

  it('a missing key file names TLS_KEY_FILE', async () => {
    await expect(startTestApp({ TLS_CERT_FILE: join(dir, 'good.crt'), TLS_KEY_FILE: join(dir, 'missing.key') })).rejects.toThrow(
      /TLS_KEY_FILE: cannot read/,
    );
  });

  it('a key that does not match the certificate names TLS_KEY_FILE and shows no key material', async () => {
    const err: Error = await startTestApp({ TLS_CERT_FILE: join(dir, 'good.crt'), TLS_KEY_FILE: join(dir, 'other.key') }).then(
      () => {
        throw new Error('the app started');
      },
      (e: Error) => e,
    );
    expect(err.message).toMatch(/TLS_KEY_FILE: .*does not match the certificate/);
    expect(err.message).not.toMatch(/BEGIN|PRIVATE/);
    for (const key of [pair.key, other.key]) {
      const base64 = key.split('\n').slice(1, -2).join('');
      expect(err.message).not.toContain(base64.slice(10, 40));
    }
  });

  it('a certificate file that holds no certificate names TLS_CERT_FILE', async () => {
    await expect(startTestApp({ TLS_CERT_FILE: join(dir, 'good.key'), TLS_KEY_FILE: join(dir, 'good.key') })).rejects.toThrow(
      /TLS_CERT_FILE: .*is not a PEM certificate/,
    );
  });
});
