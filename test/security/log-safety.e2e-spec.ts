import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as f from '../helpers/factories';
import { ReplicaProcess } from '../helpers/replica-process';
import { INGEST_TOKEN } from '../helpers/test-app';
import { TEST_SECRET, userToken } from '../helpers/tokens';
import { TestClient, refusedHandshake } from '../helpers/ws-client';

/**
 * What reaches the log (operations.md §4): JSON lines with connection, user and project ids, never a token, a
 * secret or a message text, at any level. A replica runs at `trace` through a session that touches every path
 * that logs (accepted and refused handshakes, frames, subscriptions, ingest, validation errors, a drain); its
 * whole output is then searched for each secret. A refused configuration names the variable, never its value.
 */

const MESSAGE_TEXT = 'confidential message text 7f3a';
const FIRST_TEXT = 'confidential first text 9b2c';

describe('log safety', () => {
  it('a trace-level log of a whole session holds no token, secret or message text', async () => {
    const replica = await ReplicaProcess.start({ LOG_LEVEL: 'trace', RATE_FRAMES_PER_S: '50', RATE_FRAMES_BURST: '50' });
    const P = `logs-${Date.now()}`;
    const token = userToken('owner');
    const expired = userToken('owner', { exp: Math.floor(Date.now() / 1000) - 3600 });
    const forged = userToken('owner', {}, 'another-secret-entirely');
    const clients: TestClient[] = [];
    try {
      await replica.ingestOk([
        { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
        { type: 'request.create', data: f.request(P, 'r1', { status: 100, first_text: FIRST_TEXT }) },
      ]);
      const c = await TestClient.connect(`ws://127.0.0.1:${replica.port}/?token=${encodeURIComponent(`JWT ${token}`)}`);
      clients.push(c);
      await c.subscribe(`/${P}/requests`);
      await c.subscribe(`/${P}/requests/r1/messages`);
      await c.subscribe(`/other-project/requests`);
      c.send({ action: 'publish', payload: { topic: `/${P}/requests`, message: { text: MESSAGE_TEXT } } });
      c.send(`{"action":"nonsense","payload":{"text":"${MESSAGE_TEXT}"}}`);
      c.send(MESSAGE_TEXT);
      await replica.ingestOk({ type: 'message.create', data: f.message(P, 'r1', { text: MESSAGE_TEXT }) });
      await c.waitFrame((fr) => fr.payload.method === 'CREATE' && fr.payload.message?.text === MESSAGE_TEXT);
      // Refused: a bad event carrying the text, a wrong service token, refused handshakes of every kind.
      expect((await replica.ingest({ type: 'message.create', data: { text: MESSAGE_TEXT } })).status).toBe(400);
      const wrong = await fetch(`${replica.httpUrl}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer not-${INGEST_TOKEN}` },
        body: '[]',
      });
      expect(wrong.status).toBe(401);
      for (const t of [expired, forged, 'garbage-token']) {
        expect((await refusedHandshake(`ws://127.0.0.1:${replica.port}/?token=${encodeURIComponent(`JWT ${t}`)}`)).status).toBe(401);
      }
      expect((await refusedHandshake(`ws://127.0.0.1:${replica.port}/`, { authorization: `Bearer ${forged}` })).status).toBe(401);
      expect((await fetch(`${replica.httpUrl}/v1/me/projects?token=${encodeURIComponent(forged)}`)).status).toBe(401);
      expect((await fetch(`${replica.httpUrl}/v1/projects/${P}/metrics`, { headers: { authorization: `JWT ${token}` } })).status).toBe(200);
    } finally {
      for (const c of clients) c.close();
      await replica.kill('SIGTERM');
    }
    const log = replica.output.join('');
    const lines = log.split('\n').filter((l) => l.trim() !== '');
    // Something was logged, as JSON lines naming who and where.
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(log).toContain('"reason":"expired"');
    expect(log).toContain('"project":"other-project"');
    for (const secret of [TEST_SECRET, INGEST_TOKEN, token, expired, forged, MESSAGE_TEXT, FIRST_TEXT]) {
      expect(log).not.toContain(secret);
    }
    // Not even the signature of a token on its own.
    for (const t of [token, expired, forged]) expect(log).not.toContain(t.split('.')[2]!);
  });

  it('a refused configuration names the variables, never their values', () => {
    const secretValue = 'super-secret-value-5d1e';
    const r = spawnSync(process.execPath, [join(__dirname, '../../dist/main.js')], {
      env: {
        PATH: process.env.PATH,
        PORT: 'not-a-port',
        GLOBAL_SECRET_OR_PUB_KEY: secretValue,
        INGEST_TOKEN: secretValue,
        REDIS_URL: `redis://user:${secretValue}@nowhere`,
        METRICS_TARGET_LEVEL: '2',
        LOG_LEVEL: 'trace',
      },
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(r.status).toBe(1);
    const out = `${r.stdout}${r.stderr}`;
    expect(out).toContain('PORT');
    expect(out).toContain('GLOBAL_SECRET_OR_PUB_KEY');
    expect(out).toContain('METRICS_TARGET_LEVEL');
    expect(out).not.toContain(secretValue);
  });
});
