import { generateKeyPairSync, KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { startTestApp, TestApp } from '../helpers/test-app';
import { TEST_SECRET, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { hs256WithKey, rawUpgrade, Refusal, refusal, tamperedToken, unsignedToken } from './handshake-probe';

/**
 * Adversarial tokens at the handshake (protocol.md §1, §6): every forged, expired, misdirected or
 * anonymous token is refused at once with 401 {"error":{"code":"unauthorized",...}}, the body never
 * repeats the token, and the process goes on serving a good client right after.
 */

/** Connection limits far above what these specs open, so that only the token decides. */
const ROOMY = { RATE_CONN_PER_USER_PER_MIN: '100000', RATE_CONN_PER_IP_PER_MIN: '100000', MAX_CONN_PER_USER: '1000' };

const now = () => Math.floor(Date.now() / 1000);

function expectUnauthorized(r: Refusal, token: string): void {
  expect(r.status).toBe(401);
  expect(r.headers['content-type']).toContain('application/json');
  const body = JSON.parse(r.body);
  expect(body.error.code).toBe('unauthorized');
  expect(typeof body.error.message).toBe('string');
  expect(r.elapsedMs).toBeLessThan(1500);
  expectNoEcho(r.body, token);
}

/** Neither the token nor any of its parts is repeated in what the server answered. */
function expectNoEcho(body: string, token: string): void {
  if (token === '') return;
  expect(body).not.toContain(token);
  for (const part of token.split('.')) if (part.length >= 8) expect(body).not.toContain(part);
}

/** The process still serves: a good client connects and is answered `me` with its own user id. */
async function expectServing(app: TestApp, token: string, userId: string): Promise<void> {
  const c = await TestClient.connect(`${app.wsUrl}?token=${encodeURIComponent(`JWT ${token}`)}`);
  try {
    c.send({ action: 'me' });
    const me = await c.waitFrame((fr) => fr.action === 'me');
    expect(me.payload.userId).toBe(userId);
  } finally {
    c.close();
  }
}

describe('tokens refused by a service with a shared secret (HS256)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(ROOMY);
  });
  afterAll(() => app.close());

  const cases: [string, () => string][] = [
    ['alg none, empty signature', () => unsignedToken({ _id: 'victim-1' })],
    ['alg "None", empty signature', () => unsignedToken({ _id: 'victim-1' }, { alg: 'None', typ: 'JWT' })],
    [
      'alg "NONE" with the signature of a valid token',
      () => unsignedToken({ _id: 'victim-1' }, { alg: 'NONE' }) + userToken('victim-1').split('.')[2],
    ],
    ['no alg in the header', () => unsignedToken({ _id: 'victim-1' }, { typ: 'JWT' })],
    ['expired 45 s ago (beyond the 30 s skew)', () => jwt.sign({ _id: 'u-exp', exp: now() - 45 }, TEST_SECRET)],
    ['expired an hour ago', () => jwt.sign({ _id: 'u-exp', exp: now() - 3600 }, TEST_SECRET)],
    ['nbf 2 minutes in the future', () => jwt.sign({ _id: 'u-nbf', nbf: now() + 120 }, TEST_SECRET)],
    ['nbf a day in the future', () => jwt.sign({ _id: 'u-nbf', nbf: now() + 86_400 }, TEST_SECRET)],
    ['a tampered _id (signature of the original kept)', () => tamperedToken(userToken('attacker'), (c) => ({ ...c, _id: 'victim-1' }))],
    [
      'a tampered exp (expired token given a later exp, signature kept)',
      () => tamperedToken(jwt.sign({ _id: 'u-exp', exp: now() - 3600 }, TEST_SECRET), (c) => ({ ...c, exp: now() + 3600 })),
    ],
    [
      'a tampered header (HS256 changed to HS512, signature kept)',
      () => retargetHeader(userToken('attacker'), { alg: 'HS512', typ: 'JWT' }),
    ],
    ['signed with another secret', () => userToken('victim-1', {}, 'not-the-secret')],
    ['a guest (sub: guest)', () => jwt.sign({ _id: 'g-1', sub: 'guest', firstname: 'Guest' }, TEST_SECRET)],
    ['a guest without _id', () => jwt.sign({ sub: 'guest' }, TEST_SECRET)],
    ['no user id at all', () => jwt.sign({ email: 'nobody@example.test' }, TEST_SECRET)],
    ['no user id, sub: user (as Tiledesk signs)', () => jwt.sign({ sub: 'user', firstname: 'A' }, TEST_SECRET)],
    ['an empty _id', () => jwt.sign({ _id: '' }, TEST_SECRET)],
    ['a null _id', () => jwt.sign({ _id: null }, TEST_SECRET)],
    ['a legacy _doc without _id', () => jwt.sign({ _doc: { firstname: 'A' } }, TEST_SECRET)],
    ['a JWT whose payload is not an object', () => jwt.sign('just-a-string', TEST_SECRET)],
    ['three empty segments', () => '..'],
    ['garbage', () => 'not.a.jwt'],
  ];

  it.each(cases)('refuses %s with 401 unauthorized at once, without echoing the token, and keeps serving', async (_what, make) => {
    const token = make();
    for (const url of [`${app.wsUrl}?token=${encodeURIComponent(`JWT ${token}`)}`, `${app.wsUrl}?token=${encodeURIComponent(token)}`]) {
      expectUnauthorized(await refusal(url), token);
    }
    expectUnauthorized(await refusal(app.wsUrl, { authorization: `Bearer ${token}` }), token);
    await expectServing(app, userToken('good-user'), 'good-user');
  });

  it('allows exp and nbf within the 30 s skew (the refusals above are about the token, not the clock)', async () => {
    await expectServing(app, jwt.sign({ _id: 'skew-1', exp: now() - 10 }, TEST_SECRET), 'skew-1');
    await expectServing(app, jwt.sign({ _id: 'skew-2', nbf: now() + 10 }, TEST_SECRET), 'skew-2');
  });

  it('refuses a token in a ~100 KiB query string with an error status, without crashing, then serves a normal client', async () => {
    const huge = `${userToken('big-user')}${'A'.repeat(100 * 1024)}`;
    const path = `/?token=${encodeURIComponent(`JWT ${huge}`)}`;
    const r = await rawUpgrade(app.port, path);
    expect(r.error).toBeUndefined();
    expect([401, 414, 431]).toContain(r.status);
    expectNoEcho(r.body, huge);
    if (r.body !== '') expect(r.body).not.toContain('AAAAAAAAAAAAAAAA');
    // The same through a WebSocket client, and a huge Authorization header.
    const viaClient = await refusal(`${app.wsUrl}?token=${encodeURIComponent(huge)}`);
    expect([401, 414, 431]).toContain(viaClient.status);
    expect(viaClient.body).not.toContain('AAAAAAAAAAAAAAAA');
    const viaHeader = await refusal(app.wsUrl, { authorization: `Bearer ${huge}` });
    expect([401, 431]).toContain(viaHeader.status);
    // Refused by the HTTP parser before any handler, and still answered with the JSON error body.
    for (const answer of [viaClient, viaHeader])
      expect(JSON.parse(answer.body)).toEqual({ error: { code: 'bad_request', message: expect.stringContaining('too large') } });
    expect(viaHeader.body).not.toContain('AAAAAAAAAAAAAAAA');
    await expectServing(app, userToken('after-big'), 'after-big');
    const health = await fetch(`${app.httpUrl}/healthz`);
    expect(health.status).toBe(200);
  });

  it('refuses a ~10 KiB token (under the header limits) with 401 and a JSON body that does not repeat it', async () => {
    const padded = jwt.sign({ _id: 'pad-user', pad: 'p'.repeat(10 * 1024) }, 'not-the-secret');
    expectUnauthorized(await refusal(`${app.wsUrl}?token=${padded}`), padded);
    await expectServing(app, userToken('after-pad'), 'after-pad');
  });
});

describe('tokens refused by a service with an RSA public key (GLOBAL_SECRET_OR_PUB_KEY)', () => {
  let app: TestApp;
  let pem: string;
  let privateKey: KeyObject;
  const rs256 = (claims: object) => jwt.sign(claims, privateKey, { algorithm: 'RS256' });

  beforeAll(async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKey = pair.privateKey;
    pem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    app = await startTestApp({ ...ROOMY, GLOBAL_SECRET: '', GLOBAL_SECRET_OR_PUB_KEY: pem });
  });
  afterAll(() => app.close());

  it('accepts a valid RS256 token (positive control) and answers `me` with its user id', async () => {
    await expectServing(app, rs256({ _id: 'rsa-user', sub: 'user', aud: 'https://tiledesk.com' }), 'rsa-user');
  });

  const cases: [string, () => string][] = [
    ['HS256 signed with the public key PEM as the HMAC secret (key confusion)', () => hs256WithKey({ _id: 'victim-1' }, pem)],
    ['HS256 signed with the PEM without its trailing newline', () => hs256WithKey({ _id: 'victim-1' }, pem.trimEnd())],
    ['HS256 signed with the PEM with literal \\n sequences', () => hs256WithKey({ _id: 'victim-1' }, pem.replace(/\n/g, '\\n'))],
    ['HS256 signed with the DER of the public key', () => hs256WithKey({ _id: 'victim-1' }, derText(pem))],
    ['HS256 signed with the test secret', () => userToken('victim-1')],
    ['alg none, empty signature', () => unsignedToken({ _id: 'victim-1' })],
    [
      'alg none with the RS256 signature of a valid token',
      () => unsignedToken({ _id: 'victim-1' }) + rs256({ _id: 'victim-1' }).split('.')[2],
    ],
    [
      'RS256 signed by another key',
      () => jwt.sign({ _id: 'victim-1' }, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, { algorithm: 'RS256' }),
    ],
    ['an RS256 token with a tampered _id', () => tamperedToken(rs256({ _id: 'attacker' }), (c) => ({ ...c, _id: 'victim-1' }))],
    ['an expired RS256 token', () => rs256({ _id: 'rsa-exp', exp: now() - 120 })],
    ['an RS256 token with nbf in the future', () => rs256({ _id: 'rsa-nbf', nbf: now() + 120 })],
    ['an RS256 guest token', () => rs256({ _id: 'g-1', sub: 'guest' })],
    ['an RS256 token without a user id', () => rs256({ sub: 'user', email: 'x@example.test' })],
  ];

  it.each(cases)('refuses %s with 401 unauthorized at once and keeps serving', async (_what, make) => {
    const token = make();
    expectUnauthorized(await refusal(`${app.wsUrl}?token=${encodeURIComponent(`JWT ${token}`)}`), token);
    expectUnauthorized(await refusal(app.wsUrl, { authorization: `JWT ${token}` }), token);
    await expectServing(app, rs256({ _id: 'rsa-good' }), 'rsa-good');
  });
});

describe('tokens refused for their audience or issuer (JWT_AUDIENCE, JWT_ISSUER)', () => {
  const TILEDESK = 'https://tiledesk.com';
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ ...ROOMY, JWT_AUDIENCE: TILEDESK, JWT_ISSUER: TILEDESK });
  });
  afterAll(() => app.close());

  const good = (userId: string) => jwt.sign({ _id: userId }, TEST_SECRET, { audience: TILEDESK, issuer: TILEDESK, subject: 'user' });

  it('accepts a token with the configured audience and issuer (positive control)', async () => {
    await expectServing(app, good('aud-user'), 'aud-user');
  });

  const cases: [string, () => string][] = [
    ['a wrong audience', () => jwt.sign({ _id: 'u1' }, TEST_SECRET, { audience: 'https://evil.example', issuer: TILEDESK })],
    ['a wrong issuer', () => jwt.sign({ _id: 'u1' }, TEST_SECRET, { audience: TILEDESK, issuer: 'https://evil.example' })],
    ['no audience', () => jwt.sign({ _id: 'u1' }, TEST_SECRET, { issuer: TILEDESK })],
    ['no issuer', () => jwt.sign({ _id: 'u1' }, TEST_SECRET, { audience: TILEDESK })],
    [
      'an audience that merely contains the expected one',
      () => jwt.sign({ _id: 'u1' }, TEST_SECRET, { audience: `${TILEDESK}.evil.example`, issuer: TILEDESK }),
    ],
    [
      'a tampered audience (signature kept)',
      () =>
        tamperedToken(jwt.sign({ _id: 'u1' }, TEST_SECRET, { audience: 'https://evil.example', issuer: TILEDESK }), (c) => ({
          ...c,
          aud: TILEDESK,
        })),
    ],
  ];

  it.each(cases)('refuses %s with 401 unauthorized at once and keeps serving', async (_what, make) => {
    const token = make();
    expectUnauthorized(await refusal(`${app.wsUrl}?token=${encodeURIComponent(`JWT ${token}`)}`), token);
    await expectServing(app, good('aud-good'), 'aud-good');
  });
});

/** The token with its header replaced (payload and signature kept). */
function retargetHeader(signed: string, header: object): string {
  const [, payload, sig] = signed.split('.');
  return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${payload}.${sig}`;
}

/** The DER bytes of a PEM public key, as a binary string (another form a confused verifier might use as the HMAC key). */
function derText(pem: string): string {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64').toString('latin1');
}
