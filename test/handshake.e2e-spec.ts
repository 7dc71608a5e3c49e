import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import * as f from './helpers/factories';
import { startTestApp, TestApp } from './helpers/test-app';
import { TEST_SECRET, userToken } from './helpers/tokens';
import { TestClient, refusedHandshake } from './helpers/ws-client';

/** protocol.md §1 and §6: the handshake, its token forms and its refusals. */

const refusal = refusedHandshake;

async function expectAccepted(url: string, headers?: Record<string, string>): Promise<TestClient> {
  const c = await TestClient.connect(url, { headers });
  c.send({ action: 'me' });
  await c.waitFrame((fr) => fr.action === 'me');
  return c;
}

describe('handshake with a shared secret (HS256)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ JWT_CLOCK_SKEW_S: '5' });
  });
  afterAll(() => app.close());

  it('accepts ?token=JWT%20<jwt>, ?token=JWT+<jwt>, a bare JWT and the Authorization header', async () => {
    const t = userToken('u1');
    const clients = [
      await expectAccepted(`${app.wsUrl}?token=JWT%20${t}`),
      await expectAccepted(`${app.wsUrl}?token=JWT+${t}`),
      await expectAccepted(`${app.wsUrl}?token=${t}`),
      await expectAccepted(app.wsUrl, { authorization: `Bearer ${t}` }),
      await expectAccepted(app.wsUrl, { authorization: `JWT ${t}` }),
    ];
    for (const c of clients) c.close();
  });

  it('answers `me` with the connection id and the user id of the token (the original sent null)', async () => {
    const c = await TestClient.connect(`${app.wsUrl}?token=${userToken('user-42')}`);
    c.send({ action: 'me' });
    const me = await c.waitFrame((fr) => fr.action === 'me');
    expect(me.payload.userId).toBe('user-42');
    expect(typeof me.payload.id).toBe('string');
    c.close();
  });

  it('takes the user id from _id, else _doc._id, else sub', async () => {
    const legacy = jwt.sign({ _doc: { _id: 'legacy-1', firstname: 'L' } }, TEST_SECRET);
    const bySub = jwt.sign({ sub: 'sub-user-7' }, TEST_SECRET);
    for (const [token, expected] of [
      [legacy, 'legacy-1'],
      [bySub, 'sub-user-7'],
    ] as const) {
      const c = await TestClient.connect(`${app.wsUrl}?token=${token}`);
      c.send({ action: 'me' });
      expect((await c.waitFrame((fr) => fr.action === 'me')).payload.userId).toBe(expected);
      c.close();
    }
  });

  it.each([
    ['no token', () => ''],
    ['a malformed token', () => '?token=not-a-jwt'],
    ['a token signed with another secret', () => `?token=${userToken('u1', {}, 'other-secret')}`],
    ['an expired token', () => `?token=${jwt.sign({ _id: 'u1', exp: Math.floor(Date.now() / 1000) - 60 }, TEST_SECRET)}`],
    ['a token not valid yet', () => `?token=${jwt.sign({ _id: 'u1', nbf: Math.floor(Date.now() / 1000) + 60 }, TEST_SECRET)}`],
    ['a guest token', () => `?token=${jwt.sign({ _id: 'g1', sub: 'guest' }, TEST_SECRET)}`],
    ['a token without a user id', () => `?token=${jwt.sign({ sub: 'user', email: 'x@example.test' }, TEST_SECRET)}`],
    ['alg none', () => `?token=${jwt.sign({ _id: 'u1' }, '', { algorithm: 'none' })}`],
  ])('refuses %s at once with 401 and a JSON body', async (_what, query) => {
    const r = await refusal(`${app.wsUrl}${query()}`);
    expect(r.status).toBe(401);
    expect(r.headers['content-type']).toContain('application/json');
    const body = JSON.parse(r.body);
    expect(body.error.code).toBe('unauthorized');
    expect(typeof body.error.message).toBe('string');
  });

  it('names the reason in the 401 body', async () => {
    const expired = await refusal(`${app.wsUrl}?token=${jwt.sign({ _id: 'u1', exp: Math.floor(Date.now() / 1000) - 60 }, TEST_SECRET)}`);
    expect(JSON.parse(expired.body).error.message).toMatch(/expired/);
    const guest = await refusal(`${app.wsUrl}?token=${jwt.sign({ _id: 'g1', sub: 'guest' }, TEST_SECRET)}`);
    expect(JSON.parse(guest.body).error.message).toMatch(/guest/);
  });

  it('allows the configured clock skew on exp and nbf', async () => {
    const now = Math.floor(Date.now() / 1000);
    const c1 = await expectAccepted(`${app.wsUrl}?token=${jwt.sign({ _id: 'u1', exp: now - 2 }, TEST_SECRET)}`);
    const c2 = await expectAccepted(`${app.wsUrl}?token=${jwt.sign({ _id: 'u1', nbf: now + 2 }, TEST_SECRET)}`);
    c1.close();
    c2.close();
  });

  it('answers another path with 404 and a JSON body instead of hanging', async () => {
    const r = await refusal(`${app.wsUrl}elsewhere?token=${userToken('u1')}`);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).error.code).toBe('not_found');
  });

  it('closes a connection with 4001 when its token expires while connected', async () => {
    const skewless = await startTestApp({ JWT_CLOCK_SKEW_S: '0' });
    try {
      // Valid for 1-2 s from here, whenever in a second the slow start above ended: the handshake must not see it expired.
      const exp = Math.floor(Date.now() / 1000) + 2;
      const c = await TestClient.connect(`${skewless.wsUrl}?token=${jwt.sign({ _id: 'u1', exp }, TEST_SECRET)}`);
      const closed = await c.waitClosed(5000);
      expect(closed.code).toBe(4001);
    } finally {
      await skewless.close();
    }
  });

  it('authorizes per subscription, not at connect time: a non-member connects but is refused every topic', async () => {
    await app.ingestOk({ type: 'project_user.create', data: f.projectUser('hp1', 'member-1', 'agent') });
    const c = await app.connect('stranger');
    for (const topic of ['/hp1/requests', '/hp1/events/pu-hp1-member-1', '/hp1/bots/b1', '/hp1/project_users/users/member-1']) {
      const answer = await c.subscribe(topic);
      expect(answer.action).toBe('error');
      expect(answer.payload.code).toBe('forbidden');
    }
  });
});

describe('handshake options', () => {
  it('serves on WS_SERVER_PATH, with or without its trailing slash', async () => {
    const app = await startTestApp({ WS_SERVER_PATH: '/v2/ws/' });
    try {
      const base = `ws://127.0.0.1:${app.port}`;
      (await expectAccepted(`${base}/v2/ws/?token=${userToken('u1')}`)).close();
      (await expectAccepted(`${base}/v2/ws?token=${userToken('u1')}`)).close();
      expect((await refusal(`${base}/?token=${userToken('u1')}`)).status).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('enforces JWT_AUDIENCE and JWT_ISSUER when set (Tiledesk signs https://tiledesk.com)', async () => {
    const app = await startTestApp({ JWT_AUDIENCE: 'https://tiledesk.com', JWT_ISSUER: 'https://tiledesk.com' });
    try {
      const good = jwt.sign({ _id: 'u1' }, TEST_SECRET, {
        audience: 'https://tiledesk.com',
        issuer: 'https://tiledesk.com',
        subject: 'user',
      });
      (await expectAccepted(`${app.wsUrl}?token=JWT%20${good}`)).close();
      const wrongAud = jwt.sign({ _id: 'u1' }, TEST_SECRET, { audience: 'https://elsewhere.test', issuer: 'https://tiledesk.com' });
      const noIss = jwt.sign({ _id: 'u1' }, TEST_SECRET, { audience: 'https://tiledesk.com' });
      expect((await refusal(`${app.wsUrl}?token=${wrongAud}`)).status).toBe(401);
      expect((await refusal(`${app.wsUrl}?token=${noIss}`)).status).toBe(401);
    } finally {
      await app.close();
    }
  });

  it('with an RSA public key accepts RS256 and refuses HS256 signed with the public key text (key confusion)', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const app = await startTestApp({ GLOBAL_SECRET: '', GLOBAL_SECRET_OR_PUB_KEY: pem.replace(/\n/g, '\\n') });
    try {
      const rs = jwt.sign({ _id: 'u1' }, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { algorithm: 'RS256' });
      (await expectAccepted(`${app.wsUrl}?token=${rs}`)).close();
      const forged = forgeHs256({ _id: 'u1' }, pem);
      expect((await refusal(`${app.wsUrl}?token=${forged}`)).status).toBe(401);
      const hsWithSecret = jwt.sign({ _id: 'u1' }, TEST_SECRET);
      expect((await refusal(`${app.wsUrl}?token=${hsWithSecret}`)).status).toBe(401);
    } finally {
      await app.close();
    }
  });

  it('with an EC public key accepts ES256', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const app = await startTestApp({ GLOBAL_SECRET: '', GLOBAL_SECRET_OR_PUB_KEY: pem });
    try {
      const es = jwt.sign({ _id: 'u1' }, privateKey, { algorithm: 'ES256' });
      (await expectAccepted(`${app.wsUrl}?token=${es}`)).close();
    } finally {
      await app.close();
    }
  });
});

/** An HS256 token whose HMAC key is the server's public key text: what a key-confusion attack sends. */
function forgeHs256(claims: object, publicPem: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', publicPem).update(head).digest('base64url')}`;
}
