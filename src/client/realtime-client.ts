import type { HandshakeRefusal } from './handshake-refusal';
import { backoffDelayMs, ReconnectOptions, ReconnectPolicy, reconnectPolicy } from './reconnect-backoff';
import type { TopicRef } from './topic-refs';
import type { ErrorFrame, PublishFrame, ServerFrame } from './wire-types';

/**
 * The typed Realtime API client (protocol.md), for the browser and for Node. It owns one WebSocket at a time:
 * connects with a token (or a function that returns a fresh one before every connect), keeps subscriptions and
 * re-sends them after every reconnect, reconnects with exponential back-off and full jitter, pings the server
 * and drops a connection that stopped answering, answers the server's pings, and reports refusals as events.
 *
 * This file and everything it imports is the browser path: no Node built-ins, no `ws`. The WebSocket
 * constructor is injected (`WebSocket` option; default `globalThis.WebSocket`); `./node` passes one built on `ws`.
 */

/** `{ bivarianceHack(ev: E): void }['bivarianceHack']`: a handler property both the DOM's and ws's WebSocket satisfy. */
type Handler<E> = { bivarianceHack(ev: E): void }['bivarianceHack'];

/** The part of the WebSocket API the client uses (the DOM's WebSocket and `ws` both have it). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws`: drop the connection without a closing handshake (used for a dead connection). */
  terminate?(): void;
  /**
   * Set, before its close event, by a WebSocket that can see a refused upgrade's HTTP answer (the Node entry's);
   * a browser cannot: a refused upgrade is a close 1006 there, like a network failure.
   */
  readonly handshakeRefusal?: HandshakeRefusal | null;
}

export type WebSocketConstructorLike = new (url: string) => WebSocketLike;

/**
 * `connecting`: the first attempt; `open`; `reconnecting`: after a failed attempt or a dropped connection, while
 * waiting for the next attempt and during it; `closed`: final (close(), a refused token that cannot be renewed,
 * or a drop with `reconnect: false`). `idle` until connect().
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface RealtimeClientOptions {
  /** `ws(s)://host:port<WS_SERVER_PATH>`, without the token. */
  url: string;
  /** A JWT (with or without `JWT `), or a function called before every connect and reconnect (token refresh). */
  token: string | (() => string | Promise<string>);
  /** Default `globalThis.WebSocket` (browsers); Node 20 has none: use the `./node` entry. */
  WebSocket?: WebSocketConstructorLike;
  /** Back-off of the reconnects (see reconnect-backoff.ts); `false`: a dropped connection ends the client. */
  reconnect?: ReconnectOptions | false;
  /** Client ping period (default 15 000 ms, as Tiledesk's dashboard); 0: no pings. */
  heartbeatIntervalMs?: number;
  /** No frame at all within this long after a ping: the connection is dropped and a reconnect starts (default 10 000 ms). */
  pongTimeoutMs?: number;
  /** [0, 1) like Math.random (the jitter); for tests. */
  random?: () => number;
}

export interface FrameMeta {
  /**
   * The frame is the topic's snapshot (the answer to a subscribe, after every reconnect too): it replaces whatever
   * the consumer built from earlier frames. A `CREATE` whose message is an array on the list topics (requests,
   * messages, events); any `CREATE` on the single-document topics (live frames there are `UPDATE`/`DELETE`).
   */
  snapshot: boolean;
}

export interface SubscriptionHandlers<T> {
  onFrame(f: PublishFrame<T>, meta: FrameMeta): void;
  /** An `error` frame for this topic. `forbidden` and `unknown_topic` end the subscription (it is not re-sent). */
  onError?(e: ErrorFrame['payload']): void;
}

export interface ClientSubscription {
  readonly topic: string;
  /** False once unsubscribed, or ended by a `forbidden` / `unknown_topic` error. */
  readonly active: boolean;
  unsubscribe(): void;
}

export interface UnauthorizedEvent {
  /** `handshake`: HTTP 401 to the upgrade (Node only); `token_expired`: closed with 4001 while connected. */
  source: 'handshake' | 'token_expired';
  status: number | null;
  closeCode: number | null;
  message: string;
  /** False with a static token (nothing would change on a retry): the client is closed. */
  willReconnect: boolean;
}

export interface RateLimitedEvent {
  /** `handshake`: HTTP 429 to the upgrade (Node only); `frame`: an `error rate_limited` frame (frames were dropped). */
  source: 'handshake' | 'frame';
  /** `rate_limited` or `too_many_connections`. */
  code: string;
  message: string;
  /** How long the server asks to wait (429: Retry-After; frames: the limiter's one-second window). */
  retryAfterMs: number | null;
  refusal?: HandshakeRefusal;
}

export interface ClientErrorEvent {
  /**
   * `socket`: the WebSocket reported an error (unreachable server...); `heartbeat_timeout`: no frame after a ping;
   * `handshake`: the upgrade was refused with a status other than 401/429 (403, 426, 503 draining...);
   * `frame`: an `error` frame other than forbidden/rate_limited; `bad_frame`: a frame that is not JSON;
   * `token`: the token function threw.
   */
  kind: 'socket' | 'heartbeat_timeout' | 'handshake' | 'frame' | 'bad_frame' | 'token';
  message: string;
  cause?: unknown;
  refusal?: HandshakeRefusal;
  frame?: ErrorFrame['payload'];
  /** `bad_frame`: the text as it came. */
  raw?: string;
}

export interface CloseInfo {
  code: number;
  reason: string;
  /** Whether that connection had opened (false: the attempt failed). */
  wasOpen: boolean;
  willReconnect: boolean;
  /** The delay before the next attempt when one is scheduled. */
  retryInMs: number | null;
  /** The refused upgrade behind a failed attempt, when the WebSocket could see it (Node). */
  refusal?: HandshakeRefusal;
}

export interface RealtimeClientEvents {
  state: (s: ConnectionState) => void;
  /** Every frame received, parsed, with its text. */
  frame: (f: ServerFrame, raw: string) => void;
  unauthorized: (e: UnauthorizedEvent) => void;
  forbidden: (e: ErrorFrame['payload']) => void;
  rate_limited: (e: RateLimitedEvent) => void;
  error: (e: ClientErrorEvent) => void;
  close: (e: CloseInfo) => void;
}

export const CLOSE_TOKEN_EXPIRED = 4001;
const OPEN = 1;
const PING = JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
const PONG = JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'pong' } } });
/** After an `error rate_limited` (the server notifies at most once a second), unanswered subscribes are re-sent this much later. */
const RATE_LIMITED_RESEND_MS = 1000;

type Timer = ReturnType<typeof setTimeout>;

interface TopicEntry {
  topic: string;
  subs: Set<Subscription>;
  /** A snapshot or an error came back for the last subscribe sent on the current socket. */
  answered: boolean;
}

interface MeRequest {
  resolve(v: { id: string; userId: string }): void;
  reject(e: Error): void;
  /** The socket the `me` frame went out on; null: not sent yet (or that socket dropped). */
  sentOn: WebSocketLike | null;
}

class Subscription implements ClientSubscription {
  active = true;
  constructor(
    readonly topic: string,
    readonly handlers: SubscriptionHandlers<unknown>,
    private readonly onUnsubscribe: (s: Subscription) => void,
  ) {}
  unsubscribe(): void {
    if (!this.active) return;
    this.active = false;
    this.onUnsubscribe(this);
  }
}

export class RealtimeClient {
  private readonly WS: WebSocketConstructorLike;
  private readonly policy: ReconnectPolicy | false;
  private readonly heartbeatIntervalMs: number;
  private readonly pongTimeoutMs: number;
  private readonly random: () => number;
  private readonly listeners = new Map<keyof RealtimeClientEvents, Set<(...args: never[]) => void>>();
  private readonly topics = new Map<string, TopicEntry>();
  private readonly meRequests: MeRequest[] = [];
  private current: ConnectionState = 'idle';
  private socket: WebSocketLike | null = null;
  private socketOpened = false;
  private gotFrame = false;
  private everOpened = false;
  private reopened = 0;
  /** Failed attempts and drops since the last connection that received a frame (the back-off's n − 1). */
  private attempts = 0;
  /** Bumped for every attempt: a token that resolves for an older attempt is dropped. */
  private attemptSeq = 0;
  private retryTimer: Timer | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private pongTimer: Timer | null = null;
  private resendTimer: Timer | null = null;

  constructor(private readonly opts: RealtimeClientOptions) {
    if (!/^wss?:\/\//i.test(opts.url)) throw new TypeError(`url ${JSON.stringify(opts.url)}: must start with ws:// or wss://`);
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket;
    if (!WS) throw new TypeError('no WebSocket here: pass the WebSocket option (in Node, import the client from its node entry)');
    this.WS = WS;
    this.policy = opts.reconnect === false ? false : reconnectPolicy(opts.reconnect);
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 15_000;
    this.pongTimeoutMs = opts.pongTimeoutMs ?? 10_000;
    this.random = opts.random ?? Math.random;
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** Successful opens after the first one. */
  get reconnects(): number {
    return this.reopened;
  }

  /** Starts connecting; does nothing when already started or closed. */
  connect(): void {
    if (this.current !== 'idle') return;
    this.attempt();
  }

  /** Closes the connection (1000) and ends the client: no more reconnects, pending me() calls are rejected. */
  close(): void {
    if (this.isClosed()) return;
    const ws = this.socket;
    const wasOpen = this.socketOpened;
    this.detach();
    if (ws) {
      kill(ws, wasOpen);
      this.emit('close', { code: 1000, reason: 'closed by the client', wasOpen, willReconnect: false, retryInMs: null });
    }
    this.finish();
  }

  /**
   * Subscribes to a topic: sent now when open, and again after every reconnect, until unsubscribed or ended by a
   * `forbidden` / `unknown_topic` error. Another subscription to a topic already held re-sends the subscribe, so
   * that it gets a snapshot too (the others get that snapshot as well: a snapshot is a reset, see FrameMeta).
   */
  subscribe<T>(ref: TopicRef<T>, handlers: SubscriptionHandlers<T>): ClientSubscription {
    const sub = new Subscription(ref.topic, handlers, (s) => this.drop(s));
    let entry = this.topics.get(ref.topic);
    if (!entry) {
      entry = { topic: ref.topic, subs: new Set(), answered: false };
      this.topics.set(ref.topic, entry);
    }
    entry.subs.add(sub);
    if (!this.isClosed() && this.isOpen()) this.sendSubscribe(entry);
    return sub;
  }

  on<K extends keyof RealtimeClientEvents>(event: K, fn: RealtimeClientEvents[K]): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** This connection's id and the user id (the `me` frame); waits for the connection to open; rejected by close(). */
  me(): Promise<{ id: string; userId: string }> {
    if (this.isClosed()) return Promise.reject(new Error('the client is closed'));
    return new Promise((resolve, reject) => {
      const req: MeRequest = { resolve, reject, sentOn: null };
      this.meRequests.push(req);
      if (this.isOpen()) this.sendMe(req);
    });
  }

  private drop(sub: Subscription): void {
    const entry = this.topics.get(sub.topic);
    if (!entry?.subs.delete(sub) || entry.subs.size > 0) return;
    this.topics.delete(sub.topic);
    if (this.isOpen()) this.send(JSON.stringify({ action: 'unsubscribe', payload: { topic: sub.topic } }));
  }

  private attempt(): void {
    const seq = ++this.attemptSeq;
    this.setState(this.everOpened || this.attempts > 0 ? 'reconnecting' : 'connecting');
    const token = this.opts.token;
    if (typeof token === 'string') {
      this.dial(token);
      return;
    }
    // A function that throws counts as one that rejects.
    new Promise<string>((resolve) => resolve(token()))
      .then((t) => {
        if (typeof t !== 'string' || t.trim() === '')
          throw new TypeError(`it returned ${typeof t === 'string' ? 'an empty string' : typeof t}, not a token`);
        return t;
      })
      .then(
        (t) => {
          if (seq === this.attemptSeq && !this.isClosed()) this.dial(t);
        },
        (err: unknown) => {
          if (seq !== this.attemptSeq || this.isClosed()) return;
          this.emit('error', { kind: 'token', message: `the token function failed: ${messageOf(err)}`, cause: err });
          if (!this.isClosed()) this.retryLater(0, null);
        },
      );
  }

  private dial(token: string): void {
    let ws: WebSocketLike;
    try {
      ws = new this.WS(urlWithToken(this.opts.url, token));
    } catch (err) {
      this.emit('error', { kind: 'socket', message: messageOf(err), cause: err });
      if (!this.isClosed()) this.retryLater(0, null);
      return;
    }
    this.socket = ws;
    this.socketOpened = false;
    this.gotFrame = false;
    ws.onopen = () => this.onOpen(ws);
    ws.onmessage = (ev) => this.onMessage(ws, ev.data);
    ws.onerror = (ev) => this.onSocketError(ws, ev);
    ws.onclose = (ev) => this.onSocketClose(ws, ev.code, ev.reason);
  }

  private onOpen(ws: WebSocketLike): void {
    if (this.socket !== ws) return;
    this.socketOpened = true;
    if (this.everOpened) this.reopened++;
    this.everOpened = true;
    // Subscriptions first: a state listener that subscribes then sends its subscribe once, not twice.
    for (const entry of this.topics.values()) this.sendSubscribe(entry);
    for (const req of this.meRequests) if (req.sentOn !== ws) this.sendMe(req);
    this.startHeartbeat(ws);
    this.setState('open');
  }

  private onMessage(ws: WebSocketLike, data: unknown): void {
    if (this.socket !== ws) return;
    // Any frame shows the server alive; the first one on a connection also ends the back-off (see attempts).
    this.clearPongTimer();
    if (!this.gotFrame) {
      this.gotFrame = true;
      this.attempts = 0;
    }
    const frame = typeof data === 'string' ? parseFrame(data) : null;
    if (!frame) {
      const raw = typeof data === 'string' ? data : '';
      this.emit('error', { kind: 'bad_frame', message: 'a frame that is not a JSON object with action and payload', raw });
      return;
    }
    this.emit('frame', frame, data as string);
    if (this.socket !== ws) return;
    switch (frame.action) {
      case 'publish':
        this.onPublish(frame);
        break;
      case 'error':
        this.onErrorFrame(frame.payload);
        break;
      case 'heartbeat':
        if (frame.payload.message?.text === 'ping') this.send(PONG);
        break;
      case 'me': {
        const i = this.meRequests.findIndex((r) => r.sentOn === ws);
        if (i >= 0) this.meRequests.splice(i, 1)[0]!.resolve({ id: String(frame.payload.id), userId: String(frame.payload.userId) });
        break;
      }
    }
  }

  private onPublish(frame: PublishFrame): void {
    const entry = this.topics.get(frame.payload.topic);
    if (!entry) return;
    const { method, message, topic } = frame.payload;
    const snapshot = method === 'CREATE' && (Array.isArray(message) || !isListTopic(topic));
    if (snapshot) entry.answered = true;
    for (const sub of [...entry.subs]) if (sub.active) this.guard(() => sub.handlers.onFrame(frame, { snapshot }));
  }

  private onErrorFrame(e: ErrorFrame['payload']): void {
    const entry = e.topic !== null ? this.topics.get(e.topic) : undefined;
    if (entry) entry.answered = true;
    const ends = e.code === 'forbidden' || e.code === 'unknown_topic';
    if (entry) {
      if (ends) this.topics.delete(entry.topic);
      for (const sub of [...entry.subs]) {
        if (!sub.active) continue;
        if (ends) sub.active = false;
        if (sub.handlers.onError) this.guard(() => sub.handlers.onError!(e));
      }
    }
    if (e.code === 'forbidden') this.emit('forbidden', e);
    else if (e.code === 'rate_limited') {
      this.emit('rate_limited', { source: 'frame', code: e.code, message: e.message, retryAfterMs: RATE_LIMITED_RESEND_MS });
      this.resendUnansweredLater();
    } else this.emit('error', { kind: 'frame', message: `${e.code}: ${e.message}`, frame: e });
  }

  /**
   * Frames over the server's rate are dropped silently after one `error rate_limited` a second: a subscribe among
   * them would never be answered. Those still unanswered are sent again a second later, and again until answered.
   */
  private resendUnansweredLater(): void {
    if (this.resendTimer) return;
    const ws = this.socket;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = null;
      if (this.socket !== ws || !this.isOpen()) return;
      const unanswered = [...this.topics.values()].filter((e) => !e.answered);
      for (const entry of unanswered) this.sendSubscribe(entry);
      if (unanswered.length > 0) this.resendUnansweredLater();
    }, RATE_LIMITED_RESEND_MS);
  }

  private onSocketError(ws: WebSocketLike, ev: unknown): void {
    // A refused upgrade is reported once, by the close that follows.
    if (this.socket !== ws || ws.handshakeRefusal) return;
    this.emit('error', { kind: 'socket', message: messageOf(ev), cause: ev });
  }

  private onSocketClose(ws: WebSocketLike, code: number, reason: string): void {
    if (this.socket !== ws) return;
    const wasOpen = this.socketOpened;
    this.detach();
    this.dropped({ code, reason: reason ?? '', wasOpen, refusal: wasOpen ? null : (ws.handshakeRefusal ?? null) });
  }

  private onPongTimeout(ws: WebSocketLike): void {
    this.pongTimer = null;
    if (this.socket !== ws) return;
    const message = `no pong from the server within ${this.pongTimeoutMs} ms: dropping the connection`;
    this.emit('error', { kind: 'heartbeat_timeout', message });
    if (this.socket !== ws) return;
    this.detach();
    kill(ws, false);
    this.dropped({ code: 1006, reason: 'no pong from the server', wasOpen: true, refusal: null });
  }

  /** A connection ended (or an attempt failed): report it, then reconnect or end. */
  private dropped(d: { code: number; reason: string; wasOpen: boolean; refusal: HandshakeRefusal | null }): void {
    const renewable = typeof this.opts.token === 'function';
    let willReconnect = this.policy !== false;
    let waitMs = 0;
    const r = d.refusal;
    if (r?.status === 401) {
      willReconnect &&= renewable;
      this.emit('unauthorized', {
        source: 'handshake',
        status: 401,
        closeCode: null,
        message: r.error?.message ?? 'unauthorized',
        willReconnect,
      });
    } else if (r?.status === 429) {
      waitMs = r.retryAfterMs ?? 0;
      this.emit('rate_limited', {
        source: 'handshake',
        code: r.error?.code ?? 'rate_limited',
        message: r.error?.message ?? 'too many requests',
        retryAfterMs: r.retryAfterMs,
        refusal: r,
      });
    } else if (r) {
      this.emit('error', {
        kind: 'handshake',
        message: `handshake refused: HTTP ${r.status} ${r.error?.code ?? r.body.slice(0, 200)}`,
        refusal: r,
      });
    } else if (d.wasOpen && d.code === CLOSE_TOKEN_EXPIRED) {
      willReconnect &&= renewable;
      this.emit('unauthorized', {
        source: 'token_expired',
        status: null,
        closeCode: d.code,
        message: d.reason || 'token expired',
        willReconnect,
      });
    }
    if (this.isClosed()) return; // a listener closed the client
    const info = { code: d.code, reason: d.reason, wasOpen: d.wasOpen, ...(r ? { refusal: r } : {}) };
    if (!willReconnect) {
      this.emit('close', { ...info, willReconnect: false, retryInMs: null });
      this.finish();
      return;
    }
    this.retryLater(waitMs, info);
  }

  /** Schedules the next attempt: `extraMs` (a Retry-After) plus the jittered back-off. */
  private retryLater(extraMs: number, closed: Omit<CloseInfo, 'willReconnect' | 'retryInMs'> | null): void {
    if (this.policy === false) {
      this.finish();
      return;
    }
    this.attempts++;
    const delay = extraMs + backoffDelayMs(this.attempts, this.policy, this.random);
    if (closed) this.emit('close', { ...closed, willReconnect: true, retryInMs: delay });
    if (this.isClosed()) return;
    this.setState('reconnecting');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.isClosed()) this.attempt();
    }, delay);
  }

  private startHeartbeat(ws: WebSocketLike): void {
    this.stopHeartbeat();
    if (!(this.heartbeatIntervalMs > 0)) return;
    this.heartbeatTimer = setInterval(() => {
      if (this.socket !== ws || !this.isOpen()) return;
      this.send(PING);
      this.pongTimer ??= setTimeout(() => this.onPongTimeout(ws), this.pongTimeoutMs);
    }, this.heartbeatIntervalMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.clearPongTimer();
  }

  private clearPongTimer(): void {
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  /** Forgets the current socket (its later events are ignored) and its timers. */
  private detach(): void {
    this.socket = null;
    this.socketOpened = false;
    this.stopHeartbeat();
    if (this.resendTimer) clearTimeout(this.resendTimer);
    this.resendTimer = null;
    for (const req of this.meRequests) req.sentOn = null;
  }

  private finish(): void {
    if (this.isClosed()) return;
    this.detach();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.attemptSeq++;
    for (const req of this.meRequests.splice(0)) req.reject(new Error('the client is closed'));
    this.setState('closed');
  }

  /** A method, not a comparison of the field: listeners called in between may have closed the client. */
  private isClosed(): boolean {
    return this.current === 'closed';
  }

  private isOpen(): boolean {
    return this.socket !== null && this.socketOpened && this.socket.readyState === OPEN;
  }

  private sendSubscribe(entry: TopicEntry): void {
    entry.answered = false;
    this.send(JSON.stringify({ action: 'subscribe', payload: { topic: entry.topic } }));
  }

  private sendMe(req: MeRequest): void {
    req.sentOn = this.socket;
    this.send(JSON.stringify({ action: 'me' }));
  }

  private send(text: string): void {
    const ws = this.socket;
    if (!ws || ws.readyState !== OPEN) return;
    try {
      ws.send(text);
    } catch (err) {
      this.emit('error', { kind: 'socket', message: messageOf(err), cause: err });
    }
  }

  private setState(s: ConnectionState): void {
    if (this.current === s) return;
    this.current = s;
    this.emit('state', s);
  }

  private emit<K extends keyof RealtimeClientEvents>(event: K, ...args: Parameters<RealtimeClientEvents[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) this.guard(() => (fn as unknown as (...a: Parameters<RealtimeClientEvents[K]>) => void)(...args));
  }

  /** A throwing listener or handler is reported as an uncaught error, without leaving the client half way through a step. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

/** `ws://host/path?token=JWT%20<jwt>`, as the Tiledesk dashboard sends it (keeps a query the URL already has). */
export function urlWithToken(url: string, token: string): string {
  const bare = token.trim().replace(/^JWT(\s+|%20)/i, '');
  return `${url}${url.includes('?') ? '&' : '?'}token=JWT%20${encodeURIComponent(bare)}`;
}

/** T1, T3 and T6 carry lists: their snapshot is an array and their live `CREATE`s are single documents. */
function isListTopic(topic: string): boolean {
  const s = topic.split('/');
  if (s[2] === 'events') return true;
  return s[2] === 'requests' && (s.length === 3 || (s.length === 5 && s[4] === 'messages'));
}

function parseFrame(text: string): ServerFrame | null {
  try {
    const v = JSON.parse(text) as { action?: unknown; payload?: unknown };
    if (typeof v !== 'object' || v === null || typeof v.action !== 'string') return null;
    if (typeof v.payload !== 'object' || v.payload === null || Array.isArray(v.payload)) return null;
    return v as ServerFrame;
  } catch {
    return null;
  }
}

/** Ends a socket whose events are no longer listened to: a closing handshake when open, else at once. */
function kill(ws: WebSocketLike, open: boolean): void {
  try {
    if (open) ws.close(1000, 'client closed');
    else if (ws.terminate) ws.terminate();
    else ws.close();
  } catch {
    // already closing
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  const m = (err as { message?: unknown } | null)?.message;
  if (typeof m === 'string' && m !== '') return m;
  const inner = (err as { error?: unknown } | null)?.error;
  return inner instanceof Error ? inner.message : 'WebSocket error';
}
