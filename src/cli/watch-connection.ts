import { RealtimeClient, topic } from '../client/node';

export interface WatchConnectionOptions {
  /** The service's WebSocket URL, without the token. */
  url: string;
  /** A user JWT; sent as `?token=JWT%20<jwt>`, as the Tiledesk dashboard does. */
  token: string;
  topics: string[];
  /** Stop when the connection drops instead of reconnecting. */
  once?: boolean;
  /** Client ping period (the dashboard's: 15 s). */
  pingIntervalMs?: number;
  /** No frame within this delay after a ping: the connection is considered dead and dropped (the dashboard's: 10 s). */
  pongTimeoutMs?: number;
  /** Delay before reconnect attempt n (1, 2, ...); default: the client's back-off (full jitter, 500 ms doubling up to 30 s). */
  backoffMs?: (attempt: number) => number;
}

export type WatchEvent =
  | { type: 'open'; url: string; topics: string[] }
  | { type: 'frame'; raw: string; at: Date }
  | { type: 'refused'; status: number; body: string }
  | { type: 'closed'; code: number; reason: string; retryInMs: number | null }
  | { type: 'error'; message: string };

export type WatchEnd = { reason: 'refused'; status: number; body: string } | { reason: 'closed'; code: number } | { reason: 'stopped' };

/**
 * The watch CLI's connection: the typed client (src/client, Node entry) subscribed to the given topics, its
 * news turned into the events the CLI prints. Every frame is passed on as it came (heartbeats and error
 * frames too: the formatter decides what to print). A refused handshake (HTTP status and JSON body) ends it,
 * whatever the status; so does a drop with `once`, or a 4001 (the token expired: a static token cannot be renewed).
 */
export class WatchConnection {
  readonly done: Promise<WatchEnd>;
  private resolveDone!: (end: WatchEnd) => void;
  private finished = false;
  private readonly client: RealtimeClient;

  constructor(opts: WatchConnectionOptions, onEvent: (e: WatchEvent) => void) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.client = new RealtimeClient({
      url: opts.url,
      token: opts.token,
      reconnect: opts.once ? false : { delayMs: opts.backoffMs },
      heartbeatIntervalMs: opts.pingIntervalMs,
      pongTimeoutMs: opts.pongTimeoutMs,
    });
    const emit = (e: WatchEvent) => {
      if (!this.finished) onEvent(e);
    };
    for (const t of opts.topics) this.client.subscribe(topic.of(t), { onFrame: () => undefined });
    this.client.on('state', (s) => {
      if (s === 'open') emit({ type: 'open', url: opts.url, topics: opts.topics });
      // Ended without a close to report (a --once client whose socket could not even be created).
      if (s === 'closed') this.finish({ reason: 'closed', code: 1006 });
    });
    this.client.on('frame', (_frame, raw) => emit({ type: 'frame', raw, at: new Date() }));
    this.client.on('error', (e) => {
      // Not JSON: printed like any frame. Refusals come with the close below; error frames are frames.
      if (e.kind === 'bad_frame') emit({ type: 'frame', raw: e.raw ?? '', at: new Date() });
      else if (e.kind === 'socket' || e.kind === 'heartbeat_timeout') emit({ type: 'error', message: e.message });
    });
    this.client.on('close', (e) => {
      if (e.refusal) {
        const { status, body } = e.refusal;
        emit({ type: 'refused', status, body });
        this.finish({ reason: 'refused', status, body });
        return;
      }
      emit({ type: 'closed', code: e.code, reason: e.reason, retryInMs: e.retryInMs });
      if (!e.willReconnect) this.finish({ reason: 'closed', code: e.code });
    });
  }

  start(): void {
    this.client.connect();
  }

  /** Closes the connection (code 1000) and ends without reconnecting. */
  stop(): void {
    this.finish({ reason: 'stopped' });
  }

  private finish(end: WatchEnd): void {
    if (this.finished) return;
    this.finished = true;
    this.client.close();
    this.resolveDone(end);
  }
}
