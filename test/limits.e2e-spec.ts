import { HandshakeRefused, refusedHandshake, TestClient } from './helpers/ws-client';
import * as f from './helpers/factories';
import { INGEST_TOKEN, startTestApp, TestApp } from './helpers/test-app';
import { userToken } from './helpers/tokens';
import { until, waitFor } from './helpers/wait-for';

/**
 * What a client sees when it hits a limit (operations.md §3, protocol.md §6), on the memory engine; the same
 * limits shared by Redis replicas are in test/security/limits-replicas.e2e-spec.ts.
 */

function refusal(app: TestApp, userId: string, headers: Record<string, string> = {}): Promise<HandshakeRefused> {
  return refusedHandshake(`${app.wsUrl}?token=${userToken(userId)}`, headers);
}

function seed(project: string, users: string[]) {
  return [
    { type: 'project.update', data: f.project(project) },
    ...users.map((u) => ({ type: 'project_user.create', data: f.projectUser(project, u, 'owner') })),
  ];
}

describe('handshake limits', () => {
  let app: TestApp;
  afterEach(async () => app?.close());

  it('refuses the user’s connection past RATE_CONN_PER_USER_PER_MIN with 429, Retry-After and a body naming the limit', async () => {
    app = await startTestApp({ RATE_CONN_PER_USER_PER_MIN: '3' });
    for (let i = 0; i < 3; i++) (await app.connect('alice')).close();
    const r = await refusal(app, 'alice');
    expect(r.status).toBe(429);
    const body = JSON.parse(r.body);
    expect(body.error).toEqual({
      code: 'rate_limited',
      message: expect.stringContaining('RATE_CONN_PER_USER_PER_MIN'),
      limit: 3,
      window_s: 60,
      retry_after_s: expect.any(Number),
    });
    expect(body.error.retry_after_s).toBeGreaterThanOrEqual(59);
    expect(body.error.retry_after_s).toBeLessThanOrEqual(60);
    expect(r.headers['retry-after']).toBe(String(body.error.retry_after_s));
    expect(r.headers['content-type']).toBe('application/json');
    // Closing connections does not give back rate: the window counts connections made, not open.
    expect((await refusal(app, 'alice')).status).toBe(429);
    // Another user is not affected.
    await app.connect('bob');
  });

  it('refuses past RATE_CONN_PER_IP_PER_MIN whoever the users are', async () => {
    app = await startTestApp({ RATE_CONN_PER_IP_PER_MIN: '4' });
    for (let i = 0; i < 4; i++) await app.connect(`user-${i}`);
    const r = await refusal(app, 'user-5');
    expect(r.status).toBe(429);
    expect(JSON.parse(r.body).error).toMatchObject({
      code: 'rate_limited',
      limit: 4,
      window_s: 60,
      message: expect.stringContaining('RATE_CONN_PER_IP_PER_MIN'),
    });
  });

  it('ignores X-Forwarded-For without TRUST_PROXY: a client cannot choose the address it is counted under', async () => {
    app = await startTestApp({ RATE_CONN_PER_IP_PER_MIN: '2' });
    for (let i = 0; i < 2; i++) {
      const c = await TestClient.connect(`${app.wsUrl}?token=${userToken(`u${i}`)}`, { headers: { 'x-forwarded-for': `203.0.113.${i}` } });
      app.clients.push(c);
    }
    expect((await refusal(app, 'u9', { 'x-forwarded-for': '203.0.113.99' })).status).toBe(429);
  });

  it('refuses an address whose handshakes kept failing before checking its next token', async () => {
    app = await startTestApp({ RATE_CONN_PER_IP_PER_MIN: '3', TRUST_PROXY: 'loopback' });
    const from = (addr: string) => ({ 'x-forwarded-for': addr });
    for (let i = 0; i < 3; i++) {
      const bad = await refusedHandshake(`${app.wsUrl}?token=not-a-jwt-${i}`, from('203.0.113.5'));
      expect(bad.status).toBe(401);
    }
    // Even a good token is refused from there now, without being verified.
    const r = await refusal(app, 'ivan', from('203.0.113.5'));
    expect(r.status).toBe(429);
    expect(JSON.parse(r.body).error).toEqual({
      code: 'rate_limited',
      message: expect.stringContaining('failed handshakes'),
      limit: 3,
      window_s: 60,
      retry_after_s: expect.any(Number),
    });
    // Another address is not affected.
    const ok = await TestClient.connect(`${app.wsUrl}?token=${userToken('ivan')}`, { headers: from('203.0.113.6') });
    app.clients.push(ok);
    expect(ok.ws.readyState).toBe(ok.ws.OPEN);
  });

  it('caps concurrent connections per user at MAX_CONN_PER_USER; a closed one frees its place', async () => {
    app = await startTestApp({ MAX_CONN_PER_USER: '2' });
    const a = await app.connect('carol');
    await app.connect('carol');
    const r = await refusal(app, 'carol');
    expect(r.status).toBe(429);
    expect(JSON.parse(r.body).error).toEqual({
      code: 'too_many_connections',
      message: expect.stringContaining('MAX_CONN_PER_USER'),
      limit: 2,
      retry_after_s: expect.any(Number),
    });
    expect(r.headers['retry-after']).toBeDefined();
    a.ws.close();
    // The place frees when the server has seen the close, a moment after the client may have.
    const again = await until(() => app.connect('carol').catch(() => null), 'a place freed by the close', 3000);
    expect(again.ws.readyState).toBe(again.ws.OPEN);
  });
});

describe('frame limits', () => {
  let app: TestApp;
  afterEach(async () => app?.close());

  it('drops frames over RATE_FRAMES_PER_S after the burst, with one rate_limited error per second, and keeps the connection', async () => {
    app = await startTestApp({ RATE_FRAMES_PER_S: '5', RATE_FRAMES_BURST: '10' });
    const c = await app.connect('dave');
    for (let i = 0; i < 20; i++) c.send({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
    const err = await c.waitFrame((fr) => fr.action === 'error');
    expect(err.payload).toEqual({ topic: null, code: 'rate_limited', message: expect.stringContaining('RATE_FRAMES_PER_S') });
    await waitFor(() => c.frames.filter((fr) => fr.action === 'heartbeat').length >= 10 && true);
    // A burst of 10 answered, the other 10 dropped with a single error.
    expect(c.frames.filter((fr) => fr.action === 'error')).toHaveLength(1);
    // (The refill over time is the unit spec's, with an injected clock.)
    expect(c.closeInfo).toBeNull();
  });

  it('closes with 1008 a client that keeps sending far over the rate', async () => {
    app = await startTestApp({ RATE_FRAMES_PER_S: '10', RATE_FRAMES_BURST: '10' });
    const abuser = await app.connect('eve');
    const bystander = await app.connect('frank');
    const flood = setInterval(() => {
      for (let i = 0; i < 20; i++) if (abuser.ws.readyState === abuser.ws.OPEN) abuser.send({ action: 'me' });
    }, 10);
    try {
      const closed = await abuser.waitClosed(10_000);
      expect(closed.code).toBe(1008);
      expect(closed.reason).toContain('RATE_FRAMES_PER_S');
    } finally {
      clearInterval(flood);
    }
    await bystander.sync();
    expect(bystander.closeInfo).toBeNull();
  });

  it('refuses a subscription past MAX_SUBSCRIPTIONS_PER_CONN with too_many_subscriptions', async () => {
    app = await startTestApp({ MAX_SUBSCRIPTIONS_PER_CONN: '3' });
    await app.ingestOk(seed('p1', ['gina']));
    const c = await app.connect('gina');
    for (const t of ['/p1/requests', '/p1/bots/b1', '/p1/bots/b2']) expect((await c.subscribe(t)).action).toBe('publish');
    const refused = await c.subscribe('/p1/bots/b3');
    expect(refused.payload).toEqual({
      topic: '/p1/bots/b3',
      code: 'too_many_subscriptions',
      message: expect.stringContaining('MAX_SUBSCRIPTIONS_PER_CONN'),
    });
    // Re-subscribing to a held topic is not a new subscription; an unsubscribe makes room.
    expect((await c.subscribe('/p1/requests')).action).toBe('publish');
    c.send({ action: 'unsubscribe', payload: { topic: '/p1/bots/b1' } });
    expect((await c.subscribe('/p1/bots/b3')).action).toBe('publish');
  });

  it('refuses the subscribe of a connection past MAX_CONN_PER_PROJECT with too_many_connections; leaving frees the place', async () => {
    app = await startTestApp({ MAX_CONN_PER_PROJECT: '2' });
    await app.ingestOk([...seed('p1', ['h1', 'h2', 'h3']), ...seed('p2', ['h3'])]);
    const [c1, c2, c3] = [await app.connect('h1'), await app.connect('h2'), await app.connect('h3')];
    expect((await c1.subscribe('/p1/requests')).action).toBe('publish');
    expect((await c1.subscribe('/p1/bots/x')).action).toBe('publish'); // the same connection: one place
    expect((await c2.subscribe('/p1/requests')).action).toBe('publish');
    const refused = await c3.subscribe('/p1/requests');
    expect(refused.payload).toEqual({
      topic: '/p1/requests',
      code: 'too_many_connections',
      message: expect.stringContaining('MAX_CONN_PER_PROJECT'),
    });
    expect((await c3.subscribe('/p2/requests')).action).toBe('publish'); // another project has room
    // c1 gives its place back only when its last subscription there goes.
    c1.send({ action: 'unsubscribe', payload: { topic: '/p1/requests' } });
    expect((await c3.subscribe('/p1/requests')).payload.code).toBe('too_many_connections');
    c1.send({ action: 'unsubscribe', payload: { topic: '/p1/bots/x' } });
    expect((await c3.subscribe('/p1/requests')).action).toBe('publish');
    // The refused connection received nothing of p1 meanwhile, and gets its live frames now.
    await app.ingestOk({ type: 'request.create', data: f.request('p1', 'r1') });
    await c3.waitFrame((fr) => fr.payload.topic === '/p1/requests' && fr.payload.method === 'CREATE' && !Array.isArray(fr.payload.message));
  });
});

describe('ingest rate (INGEST_RATE_PER_S)', () => {
  let app: TestApp;
  afterEach(async () => app?.close());

  it('answers 429 with Retry-After and the error body past the per-token rate; other tokens are counted apart', async () => {
    app = await startTestApp({ INGEST_RATE_PER_S: '3' });
    const statuses: number[] = [];
    let limited: Response | null = null;
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${app.httpUrl}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST_TOKEN}` },
        body: JSON.stringify({ type: 'project.update', data: f.project('p1') }),
      });
      statuses.push(res.status);
      if (res.status === 429 && !limited) limited = res;
      else await res.text();
    }
    // At most 3 within the one-second window (the window may roll over once during the loop).
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThanOrEqual(3);
    expect(statuses.filter((s) => s === 202).length).toBeLessThanOrEqual(4);
    expect(limited).not.toBeNull();
    expect(limited!.headers.get('retry-after')).toBe('1');
    expect(await limited!.json()).toEqual({
      error: { code: 'rate_limited', message: expect.stringContaining('INGEST_RATE_PER_S'), limit: 3, window_s: 1, retry_after_s: 1 },
    });
    // A request with another token (refused 401 for its token) is not throttled by the first token's count.
    const other = await app.ingest({ type: 'project.update', data: f.project('p1') }, 'another-token');
    expect(other.status).toBe(401);
  });
});
