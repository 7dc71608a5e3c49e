import WebSocket from 'ws';
import * as f from './helpers/factories';
import { startTestApp, TestApp } from './helpers/test-app';
import { userToken } from './helpers/tokens';
import { TestClient } from './helpers/ws-client';

/** protocol.md §2: client frames, server frames, heartbeats, close codes. */
describe('frames', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ WS_MAX_PAYLOAD_BYTES: '1024' });
    await app.ingestOk([
      { type: 'project_user.create', data: f.projectUser('fp', 'owner', 'owner') },
      { type: 'request.create', data: f.request('fp', 'fr1', { status: 100 }) },
    ]);
  });
  afterAll(() => app.close());

  it('answers a ping with a pong and accepts a pong silently', async () => {
    const c = await app.connect('owner');
    c.send({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
    const pong = await c.waitFrame((fr) => fr.action === 'heartbeat');
    expect(pong).toEqual({ action: 'heartbeat', payload: { message: { text: 'pong' } } });
    const before = c.frames.length;
    c.send({ action: 'heartbeat', payload: { message: { text: 'pong' } } });
    await c.sync();
    expect(c.frames.length).toBe(before + 1); // only the pong of sync()
  });

  it.each([
    ['non-JSON text', 'hello'],
    ['a JSON array', '[1,2]'],
    ['a JSON number', '42'],
    ['JSON null', 'null'],
    ['a frame without action', '{"payload":{}}'],
    ['a non-string action', '{"action":7}'],
    ['an unknown action', '{"action":"dance","payload":{}}'],
    ['a subscribe without topic', '{"action":"subscribe","payload":{}}'],
    ['a subscribe without payload', '{"action":"subscribe"}'],
    ['a subscribe with a non-string topic', '{"action":"subscribe","payload":{"topic":5}}'],
    ['an unsubscribe with a non-string topic', '{"action":"unsubscribe","payload":{"topic":["x"]}}'],
    ['a non-object payload', '{"action":"subscribe","payload":"x"}'],
  ])('answers %s with error bad_request and keeps the connection open', async (_what, text) => {
    const c = await app.connect('owner');
    c.send(text);
    const err = await c.waitFrame((fr) => fr.action === 'error');
    expect(err.payload).toMatchObject({ code: 'bad_request', topic: null });
    expect(typeof err.payload.message).toBe('string');
    const snap = await c.subscribe('/fp/requests');
    expect(snap.action).toBe('publish');
  });

  it('answers a binary frame with error bad_request', async () => {
    const c = await app.connect('owner');
    c.ws.send(Buffer.from('{"action":"me"}'), { binary: true });
    const err = await c.waitFrame((fr) => fr.action === 'error');
    expect(err.payload.code).toBe('bad_request');
  });

  it.each(['publish', 'broadcast'])('refuses client %s with error forbidden and relays nothing', async (action) => {
    const watcher = await app.connect('owner');
    await watcher.subscribe('/fp/requests');
    const c = await app.connect('owner');
    c.send({ action, payload: { topic: '/fp/requests', message: { spoofed: true } } });
    const err = await c.waitFrame((fr) => fr.action === 'error');
    expect(err.payload).toMatchObject({ code: 'forbidden', topic: '/fp/requests' });
    await watcher.sync();
    expect(watcher.frames.some((fr) => fr.payload.message?.spoofed)).toBe(false);
  });

  it('ignores extra payload fields on subscribe (clients send message and method)', async () => {
    const c = await app.connect('owner');
    c.send({ action: 'subscribe', payload: { topic: '/fp/requests', message: null, method: 'CREATE' } });
    const snap = await c.waitFrame((fr) => fr.action === 'publish');
    expect(snap.payload).toMatchObject({ topic: '/fp/requests', method: 'CREATE' });
    expect(Array.isArray(snap.payload.message)).toBe(true);
  });

  it('answers an unknown topic shape with error unknown_topic', async () => {
    const c = await app.connect('owner');
    for (const topic of ['/fp/whatever/x', 'fp/requests', '/fp/requests/r/other', '/fp/requests/']) {
      const answer = await c.subscribe(topic);
      expect(answer).toMatchObject({ action: 'error', payload: { topic, code: 'unknown_topic' } });
    }
  });

  it('re-sends the snapshot on a second subscribe and keeps one subscription', async () => {
    const c = await app.connect('owner');
    await c.subscribe('/fp/requests');
    const second = await c.subscribe('/fp/requests');
    expect(second.payload.method).toBe('CREATE');
    const from = c.frames.length;
    await app.ingestOk({ type: 'request.update', data: f.request('fp', 'fr1', { status: 200, participants: ['owner'] }) });
    await c.sync();
    expect(c.dataFrames(from).filter((fr) => fr.payload.topic === '/fp/requests')).toHaveLength(1);
  });

  it('stops delivery after unsubscribe, and answers nothing to unsubscribe', async () => {
    const c = await app.connect('owner');
    await c.subscribe('/fp/requests/fr1');
    c.send({ action: 'unsubscribe', payload: { topic: '/fp/requests/fr1' } });
    c.send({ action: 'unsubscribe', payload: { topic: '/fp/never-held' } });
    const from = c.frames.length;
    await c.sync();
    await app.ingestOk({ type: 'request.update', data: f.request('fp', 'fr1', { status: 200, participants: ['someone'] }) });
    await c.sync();
    expect(c.dataFrames(from)).toEqual([]);
  });

  it('closes with 1009 a frame over WS_MAX_PAYLOAD_BYTES', async () => {
    const c = await app.connect('owner');
    c.send({ action: 'subscribe', payload: { topic: '/fp/requests', pad: 'x'.repeat(2000) } });
    expect((await c.waitClosed()).code).toBe(1009);
  });

  it('every server frame carries a payload object', async () => {
    const c = await app.connect('owner');
    c.send('junk');
    c.send({ action: 'me' });
    await c.subscribe('/fp/requests');
    await c.subscribe('/fp/nope/x');
    await c.sync();
    expect(c.frames.length).toBeGreaterThanOrEqual(5);
    for (const fr of c.frames) expect(typeof fr.payload).toBe('object');
  });
});

describe('server heartbeat', () => {
  it('pings every interval and terminates a connection from which nothing arrived for a whole interval', async () => {
    const app = await startTestApp({ WS_HEARTBEAT_INTERVAL_MS: '400' });
    try {
      // A raw socket that never answers: it must be terminated after it received a ping.
      const silent = new WebSocket(`${app.wsUrl}?token=${userToken('quiet')}`);
      const received: string[] = [];
      silent.on('message', (d: Buffer) => received.push(d.toString()));
      const closed = new Promise<number>((resolve) => silent.on('close', (code) => resolve(code)));
      // A client that answers every ping stays connected meanwhile.
      const lively = await TestClient.connect(`${app.wsUrl}?token=${userToken('lively')}`);
      lively.ws.on('message', (d: Buffer) => {
        if (d.toString().includes('"ping"')) lively.send({ action: 'heartbeat', payload: { message: { text: 'pong' } } });
      });
      const code = await closed;
      expect(code).toBe(1006); // terminated: no close frame
      expect(received).toContain(JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'ping' } } }));
      // The sweep that terminated the silent socket may be the one that pings the lively one first.
      await lively.waitFrame((fr) => fr.payload.message?.text === 'ping');
      expect(lively.closeInfo).toBeNull();
      const pings = lively.frames.filter((fr) => fr.payload.message?.text === 'ping').length;
      expect(pings).toBeGreaterThanOrEqual(1);
      lively.close();
    } finally {
      await app.close();
    }
  });
});

describe('shutdown', () => {
  it('closes open connections with 1001 going away', async () => {
    const app = await startTestApp();
    const c = await TestClient.connect(`${app.wsUrl}?token=${userToken('u1')}`);
    await app.close();
    expect((await c.waitClosed()).code).toBe(1001);
  });
});
