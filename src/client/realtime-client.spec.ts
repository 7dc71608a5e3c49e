import { HandshakeRefusal, parseHandshakeRefusal } from './handshake-refusal';
import { CloseInfo, ConnectionState, RealtimeClient, RealtimeClientEvents, RealtimeClientOptions, WebSocketLike } from './realtime-client';
import { topic } from './topic-refs';

/**
 * The client's state machine against a scripted WebSocket, on jest's fake clock: what it sends, when it
 * reconnects and with which delay, what it reports. test/client.e2e-spec.ts runs it against the real service.
 */

class ScriptedSocket implements WebSocketLike {
  static made: ScriptedSocket[] = [];
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  handshakeRefusal: HandshakeRefusal | null = null;
  readonly sent: any[] = [];
  closedWith: { code?: number; reason?: string } | 'terminated' | null = null;

  constructor(readonly url: string) {
    ScriptedSocket.made.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }
  terminate(): void {
    this.closedWith = 'terminated';
    this.readyState = 3;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  refuse(status: number, error: Record<string, unknown>, retryAfter?: string): void {
    this.handshakeRefusal = parseHandshakeRefusal(status, JSON.stringify({ error }), retryAfter);
    this.onerror?.({ message: `Unexpected server response: ${status}` });
    this.drop();
  }
  /** Frames sent with this action. */
  actions(action: string): any[] {
    return this.sent.filter((f) => f.action === action);
  }
}

const last = () => ScriptedSocket.made.at(-1)!;
const snapshot = (t: string, message: unknown) => ({ action: 'publish', payload: { topic: t, method: 'CREATE', message } });
const tokenOf = (s: ScriptedSocket) => decodeURIComponent(new URL(s.url).searchParams.get('token')!);

interface Recorded {
  client: RealtimeClient;
  events: Array<{ event: keyof RealtimeClientEvents; arg: any }>;
  closes: () => CloseInfo[];
  states: () => ConnectionState[];
}

const clients: RealtimeClient[] = [];
function start(opts: Partial<RealtimeClientOptions> = {}): Recorded {
  const client = new RealtimeClient({ url: 'ws://rt.test/ws', token: 'tok', WebSocket: ScriptedSocket, random: () => 0.5, ...opts });
  clients.push(client);
  const events: Recorded['events'] = [];
  for (const event of ['state', 'unauthorized', 'forbidden', 'rate_limited', 'error', 'close'] as const)
    client.on(event, (arg: any) => events.push({ event, arg }));
  client.connect();
  return {
    client,
    events,
    closes: () => events.filter((e) => e.event === 'close').map((e) => e.arg as CloseInfo),
    states: () => events.filter((e) => e.event === 'state').map((e) => e.arg as ConnectionState),
  };
}

beforeEach(() => {
  jest.useFakeTimers();
  ScriptedSocket.made = [];
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  jest.useRealTimers();
});

describe('RealtimeClient: connection and back-off', () => {
  it('connects once with the token in the URL as the Tiledesk dashboard sends it', () => {
    const { client, states } = start({ token: 'JWT a.b.c' });
    client.connect();
    expect(ScriptedSocket.made).toHaveLength(1);
    expect(last().url).toBe('ws://rt.test/ws?token=JWT%20a.b.c');
    last().open();
    expect(states()).toEqual(['connecting', 'open']);
    expect(client.state).toBe('open');
  });

  it('waits random × min(max, initial × factor^(n−1)) before attempt n, up to the cap, and starts over once a connection got a frame', () => {
    const { client, closes } = start({ reconnect: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2 }, random: () => 0.5 });
    for (let n = 1; n <= 6; n++) {
      last().drop();
      const wait = closes().at(-1)!.retryInMs!;
      expect(wait).toBe(Math.min(1000, 100 * 2 ** (n - 1)) / 2);
      jest.advanceTimersByTime(wait - 1);
      expect(ScriptedSocket.made).toHaveLength(n);
      jest.advanceTimersByTime(1);
      expect(ScriptedSocket.made).toHaveLength(n + 1);
    }
    expect(closes().map((c) => c.retryInMs)).toEqual([50, 100, 200, 400, 500, 500]);
    // Open but dropped before any frame (a replica that accepted, then went away): the back-off goes on.
    last().open();
    last().drop(1001);
    expect(closes().at(-1)).toMatchObject({ code: 1001, wasOpen: true, willReconnect: true, retryInMs: 500 });
    jest.advanceTimersByTime(500);
    // A connection that received a frame ends the back-off: the next drop waits as the first did.
    last().open();
    last().receive({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
    last().drop(1001);
    expect(closes().at(-1)!.retryInMs).toBe(50);
    jest.advanceTimersByTime(50);
    last().open();
    expect(client.reconnects).toBe(2);
  });

  it('is idle until connect(), and close() is final: no reconnect, me() rejected', async () => {
    const client = new RealtimeClient({ url: 'ws://rt.test/', token: 't', WebSocket: ScriptedSocket });
    clients.push(client);
    expect(client.state).toBe('idle');
    const me = client.me();
    client.connect();
    last().open();
    expect(last().actions('me')).toHaveLength(1);
    client.close();
    await expect(me).rejects.toThrow('closed');
    expect(last().closedWith).toEqual({ code: 1000, reason: 'client closed' });
    expect(client.state).toBe('closed');
    jest.advanceTimersByTime(60_000);
    client.connect();
    expect(ScriptedSocket.made).toHaveLength(1);
    await expect(client.me()).rejects.toThrow('closed');
  });

  it('with reconnect false, a dropped connection ends the client', () => {
    const { client, closes } = start({ reconnect: false });
    last().open();
    last().drop(1001, 'server shutting down');
    expect(closes()).toEqual([{ code: 1001, reason: 'server shutting down', wasOpen: true, willReconnect: false, retryInMs: null }]);
    expect(client.state).toBe('closed');
    jest.advanceTimersByTime(60_000);
    expect(ScriptedSocket.made).toHaveLength(1);
  });

  it('rejects a URL that is not ws(s):// and a missing WebSocket', () => {
    expect(() => new RealtimeClient({ url: 'http://x/', token: 't', WebSocket: ScriptedSocket })).toThrow(TypeError);
    expect(() => new RealtimeClient({ url: 'ws://x/', token: 't' })).toThrow(/WebSocket/);
  });
});

describe('RealtimeClient: subscriptions', () => {
  it('sends subscribes on open and again after every reconnect, marks snapshots, and forgets what was unsubscribed', () => {
    const { client } = start();
    const frames: Array<[string, unknown, boolean]> = [];
    const requests = client.subscribe(topic.requests('p1'), {
      onFrame: (f, meta) => frames.push([f.payload.method, f.payload.message, meta.snapshot]),
    });
    const bot = client.subscribe(topic.bot('p1', 'b1'), {
      onFrame: (f, meta) => frames.push([f.payload.method, f.payload.message, meta.snapshot]),
    });
    last().open();
    expect(
      last()
        .actions('subscribe')
        .map((f) => f.payload.topic),
    ).toEqual(['/p1/requests', '/p1/bots/b1']);
    last().receive(snapshot('/p1/requests', [{ request_id: 'r1' }]));
    last().receive(snapshot('/p1/bots/b1', null));
    last().receive({ action: 'publish', payload: { topic: '/p1/requests', method: 'CREATE', message: { request_id: 'r2' } } });
    last().receive({ action: 'publish', payload: { topic: '/p1/other', method: 'CREATE', message: {} } });
    expect(frames).toEqual([
      ['CREATE', [{ request_id: 'r1' }], true],
      ['CREATE', null, true],
      ['CREATE', { request_id: 'r2' }, false],
    ]);
    bot.unsubscribe();
    expect(last().actions('unsubscribe')).toEqual([{ action: 'unsubscribe', payload: { topic: '/p1/bots/b1' } }]);
    expect(bot.active).toBe(false);

    last().drop();
    jest.runOnlyPendingTimers();
    last().open();
    expect(last().sent).toEqual([{ action: 'subscribe', payload: { topic: '/p1/requests' } }]);
    last().receive(snapshot('/p1/requests', []));
    expect(frames.at(-1)).toEqual(['CREATE', [], true]);
    expect(requests.active).toBe(true);
  });

  it('a subscribe while open goes out at once; a second subscription to a held topic asks for a snapshot again', () => {
    const { client } = start();
    last().open();
    const a: boolean[] = [];
    const b: boolean[] = [];
    const subA = client.subscribe(topic.metrics('p1'), { onFrame: (_f, m) => a.push(m.snapshot) });
    client.subscribe(topic.metrics('p1'), { onFrame: (_f, m) => b.push(m.snapshot) });
    expect(last().actions('subscribe')).toHaveLength(2);
    last().receive(snapshot('/p1/metrics', { requests: {} }));
    last().receive({ action: 'publish', payload: { topic: '/p1/metrics', method: 'UPDATE', message: { requests: {} } } });
    expect([a, b]).toEqual([
      [true, false],
      [true, false],
    ]);
    subA.unsubscribe();
    expect(last().actions('unsubscribe')).toHaveLength(0);
  });

  it('ends a subscription refused with forbidden: onError, a forbidden event, and it is not sent again after a reconnect', () => {
    const { client, events } = start();
    const errors: unknown[] = [];
    const sub = client.subscribe(topic.requests('other'), { onFrame: () => undefined, onError: (e) => errors.push(e) });
    client.subscribe(topic.requests('p1'), { onFrame: () => undefined });
    last().open();
    const refusal = { topic: '/other/requests', code: 'forbidden', message: 'not an active member of this project' };
    last().receive({ action: 'error', payload: refusal });
    expect(errors).toEqual([refusal]);
    expect(events.filter((e) => e.event === 'forbidden').map((e) => e.arg)).toEqual([refusal]);
    expect(sub.active).toBe(false);
    last().drop();
    jest.runOnlyPendingTimers();
    last().open();
    expect(
      last()
        .actions('subscribe')
        .map((f) => f.payload.topic),
    ).toEqual(['/p1/requests']);
  });

  it('keeps a subscription refused with not_found (sent again after a reconnect) and reports the error', () => {
    const { client, events } = start();
    const errors: unknown[] = [];
    const sub = client.subscribe(topic.request('p1', 'r9'), { onFrame: () => undefined, onError: (e) => errors.push(e) });
    last().open();
    last().receive({ action: 'error', payload: { topic: '/p1/requests/r9', code: 'not_found', message: 'no such request' } });
    expect(errors).toHaveLength(1);
    expect(sub.active).toBe(true);
    expect(events.find((e) => e.event === 'error')?.arg).toMatchObject({ kind: 'frame', frame: { code: 'not_found' } });
    last().drop();
    jest.runOnlyPendingTimers();
    last().open();
    expect(last().actions('subscribe')).toHaveLength(1);
  });

  it('on error rate_limited, reports it and sends the still unanswered subscribes again a second later until answered', () => {
    const { client, events } = start();
    for (const p of ['a', 'b', 'c']) client.subscribe(topic.requests(p), { onFrame: () => undefined });
    last().open();
    last().receive(snapshot('/a/requests', []));
    last().receive({ action: 'error', payload: { topic: null, code: 'rate_limited', message: 'too many frames' } });
    expect(events.find((e) => e.event === 'rate_limited')?.arg).toEqual({
      source: 'frame',
      code: 'rate_limited',
      message: 'too many frames',
      retryAfterMs: 1000,
    });
    const resent = () =>
      last()
        .actions('subscribe')
        .slice(3)
        .map((f) => f.payload.topic);
    jest.advanceTimersByTime(999);
    expect(resent()).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(resent()).toEqual(['/b/requests', '/c/requests']);
    last().receive(snapshot('/b/requests', []));
    jest.advanceTimersByTime(1000);
    expect(resent()).toEqual(['/b/requests', '/c/requests', '/c/requests']);
    last().receive(snapshot('/c/requests', []));
    jest.advanceTimersByTime(5000);
    expect(resent()).toHaveLength(3);
  });

  it('answers me() with the connection id and user id', async () => {
    const { client } = start();
    const me = client.me();
    last().open();
    last().receive({ action: 'me', payload: { id: 'c1', userId: 'u1' } });
    await expect(me).resolves.toEqual({ id: 'c1', userId: 'u1' });
  });
});

describe('RealtimeClient: heartbeats', () => {
  it('answers server pings, pings every interval, and drops a connection that sends nothing within the pong timeout', () => {
    const { events, closes } = start({ heartbeatIntervalMs: 100, pongTimeoutMs: 50 });
    last().open();
    last().receive({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
    expect(last().sent).toEqual([{ action: 'heartbeat', payload: { message: { text: 'pong' } } }]);
    jest.advanceTimersByTime(100);
    expect(last().sent.at(-1)).toEqual({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
    // Any frame counts as an answer.
    jest.advanceTimersByTime(40);
    last().receive({ action: 'publish', payload: { topic: '/p/requests', method: 'UPDATE', message: {} } });
    jest.advanceTimersByTime(60);
    expect(ScriptedSocket.made).toHaveLength(1);
    // Silence after the next ping: dropped (without a closing handshake) and a reconnect scheduled.
    jest.advanceTimersByTime(49);
    expect(closes()).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(ScriptedSocket.made[0]!.closedWith).toBe('terminated');
    expect(events.find((e) => e.event === 'error')?.arg).toMatchObject({
      kind: 'heartbeat_timeout',
      message: expect.stringContaining('no pong'),
    });
    expect(closes()).toEqual([{ code: 1006, reason: 'no pong from the server', wasOpen: true, willReconnect: true, retryInMs: 250 }]);
    jest.advanceTimersByTime(250);
    expect(ScriptedSocket.made).toHaveLength(2);
  });
});

describe('RealtimeClient: refusals', () => {
  it('with a static token, a 401 is final: unauthorized, closed, no more attempts', () => {
    const { client, events, closes } = start();
    last().refuse(401, { code: 'unauthorized', message: 'invalid token' });
    expect(events.filter((e) => e.event === 'unauthorized').map((e) => e.arg)).toEqual([
      { source: 'handshake', status: 401, closeCode: null, message: 'invalid token', willReconnect: false },
    ]);
    expect(closes()).toEqual([
      expect.objectContaining({ willReconnect: false, wasOpen: false, refusal: expect.objectContaining({ status: 401 }) }),
    ]);
    // The refusal is reported once, not also as a socket error.
    expect(events.filter((e) => e.event === 'error')).toEqual([]);
    expect(client.state).toBe('closed');
    jest.advanceTimersByTime(120_000);
    expect(ScriptedSocket.made).toHaveLength(1);
  });

  it('with a token function, a 401 is retried with back-off and the function called again for a fresh token', async () => {
    const tokens = ['expired', 'fresh'];
    const token = jest.fn(() => Promise.resolve(tokens.shift()!));
    const { client, events } = start({ token });
    await jest.advanceTimersByTimeAsync(0);
    expect(tokenOf(last())).toBe('JWT expired');
    last().refuse(401, { code: 'unauthorized', message: 'token expired' });
    expect(events.find((e) => e.event === 'unauthorized')?.arg).toMatchObject({ source: 'handshake', willReconnect: true });
    await jest.advanceTimersByTimeAsync(250);
    expect(token).toHaveBeenCalledTimes(2);
    expect(tokenOf(last())).toBe('JWT fresh');
    last().open();
    expect(client.state).toBe('open');
  });

  it('closed with 4001 (token expired): unauthorized, then a reconnect with a fresh token, or the end with a static one', async () => {
    let n = 0;
    const renewing = start({ token: () => `t${++n}` });
    await jest.advanceTimersByTimeAsync(0);
    last().open();
    last().receive({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
    last().drop(4001, 'token expired');
    expect(renewing.events.find((e) => e.event === 'unauthorized')?.arg).toEqual({
      source: 'token_expired',
      status: null,
      closeCode: 4001,
      message: 'token expired',
      willReconnect: true,
    });
    await jest.advanceTimersByTimeAsync(250);
    expect(tokenOf(last())).toBe('JWT t2');

    const fixed = start({ token: 'static' });
    last().open();
    last().drop(4001, 'token expired');
    expect(fixed.client.state).toBe('closed');
    expect(fixed.closes()).toEqual([{ code: 4001, reason: 'token expired', wasOpen: true, willReconnect: false, retryInMs: null }]);
  });

  it('a 429 waits its Retry-After plus the jittered delay, and reports rate_limited', () => {
    const { events, closes } = start();
    last().refuse(429, { code: 'rate_limited', message: 'too many new connections for this user', retry_after_s: 12 }, '12');
    expect(events.find((e) => e.event === 'rate_limited')?.arg).toMatchObject({
      source: 'handshake',
      code: 'rate_limited',
      retryAfterMs: 12_000,
    });
    expect(closes()[0]).toMatchObject({ willReconnect: true, retryInMs: 12_000 + 250 });
    jest.advanceTimersByTime(12_249);
    expect(ScriptedSocket.made).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(ScriptedSocket.made).toHaveLength(2);
  });

  it('other refusals (503 while draining) are errors and retried', () => {
    const { events, closes } = start();
    last().refuse(503, { code: 'unavailable', message: 'draining' });
    expect(events.find((e) => e.event === 'error')?.arg).toMatchObject({ kind: 'handshake', refusal: { status: 503 } });
    expect(closes()[0]).toMatchObject({ willReconnect: true });
  });

  it('a token function that throws is reported and retried', async () => {
    let calls = 0;
    const { events } = start({
      token: () => {
        if (++calls === 1) throw new Error('refresh endpoint down');
        return 'ok';
      },
    });
    await jest.advanceTimersByTimeAsync(0);
    expect(events.find((e) => e.event === 'error')?.arg).toMatchObject({
      kind: 'token',
      message: expect.stringContaining('refresh endpoint down'),
    });
    await jest.advanceTimersByTimeAsync(250);
    expect(tokenOf(last())).toBe('JWT ok');
  });

  it('a token function that returns no token is reported as failing, without a socket', async () => {
    const { events } = start({ token: () => undefined as unknown as string });
    await jest.advanceTimersByTimeAsync(0);
    expect(events.find((e) => e.event === 'error')?.arg).toMatchObject({
      kind: 'token',
      message: expect.stringContaining('undefined, not a token'),
    });
    expect(ScriptedSocket.made).toHaveLength(0);
  });
});
