import WebSocket from 'ws';

export interface WatchConnectionOptions {
  /** The service's WebSocket URL, without the token. */
  url: string;
  /** A bare user JWT; sent as `?token=JWT%20<jwt>`, as the Tiledesk dashboard does. */
  token: string;
  topics: string[];
  /** Stop when the connection drops instead of reconnecting. */
  once?: boolean;
  /** Client ping period (the dashboard's: 15 s). */
  pingIntervalMs?: number;
  /** No pong within this delay: the connection is considered dead and dropped (the dashboard's: 10 s). */
  pongTimeoutMs?: number;
  /** Delay before reconnect attempt n (1, 2, ...); default min(n × 1 s, 30 s) like the dashboard. */
  backoffMs?: (attempt: number) => number;
}

export type WatchEvent =
  | { type: 'open'; url: string; topics: string[] }
  | { type: 'frame'; raw: string; at: Date }
  | { type: 'refused'; status: number; body: string }
  | { type: 'closed'; code: number; reason: string; retryInMs: number | null }
  | { type: 'error'; message: string };

export type WatchEnd = { reason: 'refused'; status: number; body: string } | { reason: 'closed'; code: number } | { reason: 'stopped' };

const PING = JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
const PONG = JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'pong' } } });

export function dashboardBackoff(attempt: number): number {
  return Math.min(attempt * 1000, 30_000);
}

/** `ws://host/path?token=JWT%20<jwt>` (keeps any query the URL already has). */
export function urlWithToken(url: string, token: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}token=JWT%20${encodeURIComponent(token)}`;
}

/**
 * A realtime client that behaves like the Tiledesk dashboard's: subscribes to its topics on every open,
 * answers server pings, pings the server itself and drops a connection that stops answering, and
 * reconnects with a growing delay. A refused handshake (HTTP status and JSON body) is final.
 */
export class WatchConnection {
  readonly done: Promise<WatchEnd>;
  private resolveDone!: (end: WatchEnd) => void;
  private ws: WebSocket | null = null;
  private attempts = 0;
  private finished = false;
  private pingTimer: NodeJS.Timeout | null = null;
  private pongTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: WatchConnectionOptions,
    private readonly onEvent: (e: WatchEvent) => void,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  start(): void {
    if (!this.finished && this.ws === null) this.connect();
  }

  /** Closes the connection (code 1000) and ends without reconnecting. */
  stop(): void {
    const ws = this.ws;
    this.finish({ reason: 'stopped' });
    if (ws?.readyState === WebSocket.OPEN) ws.close(1000, 'bye');
    else ws?.terminate();
  }

  private connect(): void {
    const ws = new WebSocket(urlWithToken(this.opts.url, this.opts.token));
    this.ws = ws;
    let refused = false;

    ws.on('open', () => {
      this.attempts = 0;
      this.onEvent({ type: 'open', url: this.opts.url, topics: this.opts.topics });
      for (const topic of this.opts.topics) ws.send(JSON.stringify({ action: 'subscribe', payload: { topic } }));
      this.startPinging(ws);
    });

    ws.on('message', (data: WebSocket.RawData) => {
      const raw = rawText(data);
      const text = heartbeatText(raw);
      if (text === 'ping') ws.send(PONG);
      if (text === 'pong') this.clearPongTimer();
      this.onEvent({ type: 'frame', raw, at: new Date() });
    });

    ws.on('unexpected-response', (_req, res) => {
      refused = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        this.onEvent({ type: 'refused', status, body });
        this.finish({ reason: 'refused', status, body });
        ws.terminate();
      });
    });

    ws.on('error', (err) => {
      if (!refused && !this.finished) this.onEvent({ type: 'error', message: err.message });
    });

    ws.on('close', (code, reason) => {
      this.stopPinging();
      if (refused || this.finished || this.ws !== ws) return;
      this.ws = null;
      if (this.opts.once) {
        this.onEvent({ type: 'closed', code, reason: reason.toString(), retryInMs: null });
        this.finish({ reason: 'closed', code });
        return;
      }
      this.attempts += 1;
      const delay = (this.opts.backoffMs ?? dashboardBackoff)(this.attempts);
      this.onEvent({ type: 'closed', code, reason: reason.toString(), retryInMs: delay });
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (!this.finished) this.connect();
      }, delay);
    });
  }

  private startPinging(ws: WebSocket): void {
    this.stopPinging();
    const period = this.opts.pingIntervalMs ?? 15_000;
    this.pingTimer = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(PING);
      this.pongTimer ??= setTimeout(() => {
        this.pongTimer = null;
        this.onEvent({ type: 'error', message: 'no pong from the server: dropping the connection' });
        ws.terminate();
      }, this.opts.pongTimeoutMs ?? 10_000);
    }, period);
  }

  private clearPongTimer(): void {
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  private stopPinging(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.clearPongTimer();
  }

  private finish(end: WatchEnd): void {
    if (this.finished) return;
    this.finished = true;
    this.stopPinging();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.resolveDone(end);
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** `ping` / `pong` for heartbeat frames, undefined for anything else. */
function heartbeatText(raw: string): string | undefined {
  if (!raw.includes('"heartbeat"')) return undefined;
  try {
    const f = JSON.parse(raw) as { action?: unknown; payload?: { message?: { text?: unknown } } };
    const text = f.action === 'heartbeat' ? f.payload?.message?.text : undefined;
    return typeof text === 'string' ? text : undefined;
  } catch {
    return undefined;
  }
}
