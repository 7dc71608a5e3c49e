import {
  CloseInfo,
  ConnectionState,
  FrameMeta,
  NodeWebSocket,
  PublishFrame,
  RealtimeClient,
  RealtimeClientEvents,
  RealtimeClientOptions,
  RequestsMessage,
  topic,
  WireRequest,
} from '../src/client/node';
import * as f from './helpers/factories';
import { startTestApp, TestApp } from './helpers/test-app';
import { userToken } from './helpers/tokens';
import { until, waitFor } from './helpers/wait-for';

/**
 * The typed client (src/client, Node entry) against the real service: snapshots and live frames, reconnect and
 * resubscribe after the service restarts, token renewal on 4001 and on a 401, refusals as events.
 */

const P = 'cl';
const OTHER = 'cl-other';

function seed(app: TestApp): Promise<unknown> {
  return app.ingestOk([
    { type: 'project.update', data: f.project(P) },
    { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
    { type: 'project_user.create', data: f.projectUser(P, 'ag1', 'agent') },
    { type: 'project.update', data: f.project(OTHER) },
    { type: 'project_user.create', data: f.projectUser(OTHER, 'other-owner', 'owner') },
  ]);
}

/** Everything a client reported, in order. */
class Recorder {
  readonly events: Array<{ event: keyof RealtimeClientEvents; arg: any }> = [];
  constructor(client: RealtimeClient) {
    for (const event of ['state', 'unauthorized', 'forbidden', 'rate_limited', 'error', 'close'] as const)
      client.on(event, (arg: unknown) => this.events.push({ event, arg }));
  }
  of(event: keyof RealtimeClientEvents): any[] {
    return this.events.filter((e) => e.event === event).map((e) => e.arg);
  }
  get closes(): CloseInfo[] {
    return this.of('close');
  }
  get states(): ConnectionState[] {
    return this.of('state');
  }
}

type RequestsFrame = { frame: PublishFrame<RequestsMessage>; meta: FrameMeta };
const snapshots = (frames: RequestsFrame[]) => frames.filter((x) => x.meta.snapshot);
const liveRequest = (frames: RequestsFrame[], requestId: string) =>
  frames.find((x) => !x.meta.snapshot && !Array.isArray(x.frame.payload.message) && x.frame.payload.message.request_id === requestId);

const apps: TestApp[] = [];
const clients: RealtimeClient[] = [];
async function startApp(env: Record<string, string> = {}): Promise<TestApp> {
  const app = await startTestApp(env);
  apps.push(app);
  // On a restart on the same port, fetch's pool may first hand out a keep-alive socket the old app closed.
  await until(() => seed(app).then(() => true), 'the members seeded', 3000);
  return app;
}
/** A Node client with short back-off delays (the test's waits are short, not its correctness). */
function newClient(app: TestApp, opts: Partial<RealtimeClientOptions> & Pick<RealtimeClientOptions, 'token'>): RealtimeClient {
  const client = new RealtimeClient({ url: app.wsUrl, reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...opts });
  clients.push(client);
  return client;
}
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const a of apps.splice(0)) await a.close();
});

describe('typed client against the service', () => {
  it('subscribes, gets the snapshot then live frames, typed, and answers me()', async () => {
    const app = await startApp();
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'r1', { status: 100 }) });
    const client = newClient(app, { token: userToken('owner') });
    const frames: RequestsFrame[] = [];
    client.subscribe(topic.requests(P), { onFrame: (frame, meta) => frames.push({ frame, meta }) });
    client.connect();

    const [snapshot] = await waitFor(() => snapshots(frames).length === 1 && snapshots(frames), { what: 'the snapshot' });
    expect(snapshot!.frame.payload).toMatchObject({ topic: `/${P}/requests`, method: 'CREATE' });
    expect((snapshot!.frame.payload.message as WireRequest[]).map((r) => [r.request_id, r.status])).toEqual([['r1', 100]]);

    await app.ingestOk({ type: 'request.create', data: f.request(P, 'r2', { status: 100 }) });
    const live = await waitFor(() => liveRequest(frames, 'r2'), { what: 'the live CREATE' });
    expect(live.frame.payload.method).toBe('CREATE');
    expect(live.frame.payload.message).toMatchObject({ request_id: 'r2', id: 'oid-r2', _id: 'oid-r2' });

    await expect(client.me()).resolves.toEqual({ id: expect.any(String), userId: 'owner' });
    expect(client.state).toBe('open');
    expect(client.reconnects).toBe(0);
  });

  it('after the service restarts on its port, reconnects with a fresh token, resubscribes and gets live frames again; a forbidden topic stays dropped', async () => {
    let app = await startApp();
    const port = app.port;
    // The token function is where a reconnect starts: holding it until the restarted service has its members
    // makes the resubscribe meet a seeded service (the memory engine starts empty).
    let gate: Promise<void> = Promise.resolve();
    let tokenCalls = 0;
    const client = newClient(app, {
      token: async () => {
        tokenCalls++;
        await gate;
        return userToken('owner');
      },
    });
    const seen = new Recorder(client);
    const frames: RequestsFrame[] = [];
    const refused: unknown[] = [];
    const forbidden = client.subscribe(topic.requests(OTHER), { onFrame: () => undefined, onError: (e) => refused.push(e) });
    client.subscribe(topic.requests(P), { onFrame: (frame, meta) => frames.push({ frame, meta }) });
    client.connect();
    await waitFor(() => snapshots(frames).length === 1 && refused.length === 1, { what: 'the snapshot and the refusal' });
    expect(refused).toEqual([{ topic: `/${OTHER}/requests`, code: 'forbidden', message: expect.any(String) }]);
    expect(seen.of('forbidden')).toEqual(refused);
    expect(forbidden.active).toBe(false);

    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    await waitFor(() => seen.closes.length > 0, { what: 'the close' });
    expect(seen.closes[0]).toMatchObject({ code: 1001, wasOpen: true, willReconnect: true });
    expect(client.state).toBe('reconnecting');

    app = await startApp({ PORT: String(port) });
    release();
    await waitFor(() => snapshots(frames).length === 2, { timeoutMs: 5000, what: 'the snapshot after the reconnect' });
    expect(client.state).toBe('open');
    expect(client.reconnects).toBe(1);
    expect(tokenCalls).toBe(2);
    expect(seen.states).toEqual(['connecting', 'open', 'reconnecting', 'open']);

    await app.ingestOk({ type: 'request.create', data: f.request(P, 'after-restart', { status: 100 }) });
    await waitFor(() => liveRequest(frames, 'after-restart'), { what: 'a live frame on the new connection' });
    // The refused topic was not asked for again (it would have been refused again by now).
    expect(seen.of('forbidden')).toHaveLength(1);
  });

  it('closed with 4001 when its token expires, calls the token function again and carries on with the fresh token', async () => {
    const app = await startApp({ JWT_CLOCK_SKEW_S: '0' });
    const issued: string[] = [];
    const client = newClient(app, {
      token: () => {
        // The first token lives 1-2 s; the next ones do not expire.
        const short = issued.length === 0;
        issued.push(short ? 'short' : 'long');
        return short ? userToken('owner', { exp: Math.floor(Date.now() / 1000) + 2 }) : userToken('owner');
      },
    });
    const seen = new Recorder(client);
    const frames: RequestsFrame[] = [];
    client.subscribe(topic.requests(P), { onFrame: (frame, meta) => frames.push({ frame, meta }) });
    client.connect();
    await waitFor(() => snapshots(frames).length === 1, { what: 'the first snapshot' });
    await waitFor(() => seen.of('unauthorized').length > 0, { timeoutMs: 5000, what: 'the token to expire' });
    expect(seen.of('unauthorized')).toEqual([
      { source: 'token_expired', status: null, closeCode: 4001, message: 'token expired', willReconnect: true },
    ]);
    await waitFor(() => snapshots(frames).length === 2, { what: 'the snapshot on the renewed connection' });
    expect(issued).toEqual(['short', 'long']);
    expect(client.reconnects).toBe(1);
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'renewed', { status: 100 }) });
    await waitFor(() => liveRequest(frames, 'renewed'), { what: 'a live frame after the renewal' });
  });

  it('refused with 401 for an expired token, retries with the token function’s next token', async () => {
    const app = await startApp();
    const tokens = [userToken('owner', { exp: Math.floor(Date.now() / 1000) - 3600 }), userToken('owner')];
    const token = jest.fn(() => tokens.shift()!);
    const client = newClient(app, { token });
    const seen = new Recorder(client);
    client.connect();
    await waitFor(() => client.state === 'open', { what: 'the client to open' });
    expect(seen.of('unauthorized')).toEqual([
      { source: 'handshake', status: 401, closeCode: null, message: expect.any(String), willReconnect: true },
    ]);
    expect(seen.closes[0]!.refusal).toMatchObject({ status: 401, error: { code: 'unauthorized' } });
    expect(token).toHaveBeenCalledTimes(2);
    await expect(client.me()).resolves.toMatchObject({ userId: 'owner' });
  });

  it('with a bad static token: unauthorized, closed, and no reconnect loop', async () => {
    const app = await startApp();
    let sockets = 0;
    class CountingWebSocket extends NodeWebSocket {
      constructor(url: string) {
        super(url);
        sockets++;
      }
    }
    // Retries would follow at once (0 ms): a loop would show within the round trip below.
    const client = newClient(app, {
      token: userToken('owner', {}, 'not-the-secret'),
      WebSocket: CountingWebSocket,
      reconnect: { initialDelayMs: 1, maxDelayMs: 1 },
      random: () => 0,
    });
    const seen = new Recorder(client);
    client.connect();
    await waitFor(() => client.state === 'closed', { what: 'the client to give up' });
    expect(seen.of('unauthorized')).toEqual([
      { source: 'handshake', status: 401, closeCode: null, message: expect.any(String), willReconnect: false },
    ]);
    expect(seen.closes).toEqual([
      {
        code: 1006,
        reason: '',
        wasOpen: false,
        willReconnect: false,
        retryInMs: null,
        refusal: expect.objectContaining({ status: 401, error: expect.objectContaining({ code: 'unauthorized' }) }),
      },
    ]);
    const witness = await app.connect('ag1');
    await witness.sync();
    expect(sockets).toBe(1);
    expect(seen.states).toEqual(['connecting', 'closed']);
  });

  it('reports frames dropped over RATE_FRAMES_PER_S as rate_limited and gets every subscription answered anyway', async () => {
    const app = await startApp({ RATE_FRAMES_PER_S: '5', RATE_FRAMES_BURST: '2' });
    const client = newClient(app, { token: userToken('owner') });
    const seen = new Recorder(client);
    const answered = new Set<string>();
    const refs = [topic.requests(P), topic.bot(P, 'b1'), topic.bot(P, 'b2'), topic.bot(P, 'b3'), topic.bot(P, 'b4')];
    for (const ref of refs)
      client.subscribe<unknown>(ref, { onFrame: (frame, meta) => meta.snapshot && answered.add(frame.payload.topic) });
    client.connect();
    await waitFor(() => seen.of('rate_limited').length > 0, { what: 'a rate_limited event' });
    expect(seen.of('rate_limited')[0]).toEqual({
      source: 'frame',
      code: 'rate_limited',
      message: expect.stringContaining('RATE_FRAMES_PER_S'),
      retryAfterMs: 1000,
    });
    // Five subscribes against a burst of two: three were dropped, sent again a second later, and so on.
    await waitFor(() => answered.size === refs.length, { timeoutMs: 6000, what: 'every subscription answered' });
    expect(client.state).toBe('open');
    expect(client.reconnects).toBe(0);
  });
});
