import { BeforeApplicationShutdown, Inject, OnModuleDestroy } from '@nestjs/common';
import { OnGatewayConnection, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { Principal } from '../auth/principal';
import { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { FanoutService } from '../fanout/fanout.service';
import { OutboundFrame } from '../fanout/outbound-frame';
import { ConnectionLimits } from '../limits/connection-limits';
import { FrameRateLimiter } from '../limits/frame-rate-limiter';
import { LOGGER } from '../ops/logger';
import { ReadinessService } from '../ops/readiness.service';
import { FrameActionOut, ServiceMetrics } from '../ops/service-metrics';
import { PING_FRAME, PONG_FRAME, errorFrame, meFrame, parseClientFrame } from '../protocol/frames';
import { ClientConnection } from './client-connection';
import { TurnWrites } from './turn-writes';

const PING = OutboundFrame.of(PING_FRAME);
const PONG = OutboundFrame.of(PONG_FRAME);
export const CLOSE_TOKEN_EXPIRED = 4001;
/** Close code for a client that kept sending far over RATE_FRAMES_PER_S (protocol.md §2.3: policy). */
export const CLOSE_POLICY = 1008;
/** Connections handled per event-loop turn by the heartbeat sweep. */
const SWEEP_SLICE = 500;
/** A draining replica closes connections in one slice per this many ms of SHUTDOWN_DRAIN_MS. */
const DRAIN_TICK_MS = 50;
/** How long closed connections get to finish their closing handshake before they are cut. */
const CLOSE_GRACE_MS = 1000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * The WebSocket gateway, thin on purpose: the adapter authenticated the handshake; here frames are
 * parsed and handed to the fan-out service, and one sweep per interval does heartbeats and liveness for
 * every connection (no timer per socket).
 */
@WebSocketGateway()
export class RealtimeGateway implements OnGatewayInit, OnGatewayConnection, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly connections = new Set<ClientConnection>();
  /** Connections whose token has an `exp`: closed with 4001 once it passes (plus the allowed skew). */
  private readonly expiring = new Set<ClientConnection>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private readonly rateLimited: OutboundFrame;
  /** Frames out, counted by action (one closure shared by every connection). */
  private readonly countOut = (action: FrameActionOut): void => this.metrics.framesOut.inc({ action });
  /** The frames each connection gets in one event-loop turn leave in one write. */
  private readonly turn = new TurnWrites((n) => this.metrics.socketWrites.inc(n));

  constructor(
    private readonly fanout: FanoutService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly readiness: ReadinessService,
    private readonly limits: ConnectionLimits,
    private readonly metrics: ServiceMetrics,
  ) {
    metrics.observe({ connections: () => this.connections.size, draining: () => this.readiness.isDraining });
    const { framesPerS, framesBurst } = config.limits;
    this.rateLimited = OutboundFrame.of(
      errorFrame(
        null,
        'rate_limited',
        `too many frames: at most ${framesPerS} per second, bursts of ${framesBurst} (RATE_FRAMES_PER_S, RATE_FRAMES_BURST); frames over it are dropped`,
      ),
    );
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  afterInit(): void {
    this.sweepTimer = setInterval(() => this.sweep(), this.config.ws.heartbeatIntervalMs);
    this.sweepTimer.unref();
    this.expiryTimer = setInterval(() => this.expireTokens(), 1000);
    this.expiryTimer.unref();
  }

  /** `connId`: chosen by the adapter, which counted the connection under that id (see ConnectionLimits). */
  handleConnection(ws: WebSocket, principal: Principal, socket: Duplex, connId: string): void {
    const { framesPerS, framesBurst } = this.config.limits;
    const conn = new ClientConnection(
      connId,
      ws,
      principal,
      socket,
      this.config.ws.maxBufferedBytes,
      (slow, buffered) => {
        this.metrics.slowConsumerCloses.inc();
        this.log.info({ conn: slow.id, user: slow.userId, buffered }, 'slow consumer closed (1013)');
      },
      new FrameRateLimiter(framesPerS, framesBurst, Date.now()),
      this.countOut,
      this.turn,
    );
    this.connections.add(conn);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        this.onFrame(conn, data as Buffer, isBinary);
      } catch (err) {
        // A bug in frame handling must cost one error frame, never the process.
        this.log.error({ err, conn: conn.id, user: conn.userId }, 'frame handling failed');
        conn.send(errorFrame(null, 'internal', 'internal error'));
      }
    });
    ws.on('close', () => {
      this.connections.delete(conn);
      this.expiring.delete(conn);
      this.fanout.disconnect(conn);
      this.limits.release(conn.id, conn.userId);
    });
    ws.on('ping', (data: Buffer) => {
      conn.alive = true;
      if (this.admitFrame(conn) && !conn.closed) ws.pong(data);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes with 1009 itself when a frame passes WS_MAX_PAYLOAD_BYTES, and says so here.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.metrics.limitRefusals.inc({ limit: 'WS_MAX_PAYLOAD_BYTES' });
      this.log.debug({ err, conn: conn.id }, 'socket error');
    });
    if (principal.expiresAt !== undefined) this.expiring.add(conn);
  }

  /** The first step of a shutdown: /readyz answers 503 and the adapter refuses new handshakes from here on. */
  onModuleDestroy(): void {
    this.readiness.startDraining();
  }

  /**
   * Closes every connection with 1001 going away (clients reconnect, to another replica when there is one),
   * while the engine still runs. On SIGTERM (a rollout, a scale-down) the closes are spread evenly over
   * SHUTDOWN_DRAIN_MS, so the clients do not all land on the other replicas at once; any other shutdown
   * (Ctrl-C, a test closing the app) closes them at once.
   */
  async beforeApplicationShutdown(signal?: string): Promise<void> {
    const windowMs = signal === 'SIGTERM' ? this.config.shutdownDrainMs : 0;
    const all = [...this.connections];
    this.log.info({ connections: all.length, windowMs, signal }, 'draining connections');
    const slices = Math.max(1, Math.min(all.length, Math.floor(windowMs / DRAIN_TICK_MS)));
    const started = Date.now();
    for (let i = 0; i < slices; i++) {
      if (i > 0) await sleep(started + (windowMs * i) / slices - Date.now());
      const to = Math.floor((all.length * (i + 1)) / slices);
      for (let k = Math.floor((all.length * i) / slices); k < to; k++) all[k]!.ws.close(1001, 'server shutting down');
    }
    // Closing handshakes take a round trip; a client that does not answer is cut off.
    const deadline = Date.now() + CLOSE_GRACE_MS;
    while (this.connections.size > 0 && Date.now() < deadline) await sleep(20);
    for (const conn of this.connections) conn.ws.terminate();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
  }

  private onFrame(conn: ClientConnection, data: Buffer, isBinary: boolean): void {
    conn.alive = true;
    // Before parsing: the cost a flood would impose is the parse itself.
    if (!this.admitFrame(conn)) return;
    const parsed = parseClientFrame(data, isBinary);
    if (!parsed.ok) {
      this.metrics.framesIn.inc({ action: 'invalid' });
      conn.send(errorFrame(parsed.topic, parsed.code, parsed.message));
      return;
    }
    const frame = parsed.frame;
    this.metrics.framesIn.inc({ action: frame.action });
    switch (frame.action) {
      case 'subscribe':
        void this.fanout.subscribe(conn, frame.topic);
        break;
      case 'unsubscribe':
        this.fanout.unsubscribe(conn, frame.topic);
        break;
      case 'heartbeat':
        if (frame.text === 'ping') conn.send(PONG);
        break;
      case 'me':
        conn.send(meFrame(conn.id, conn.userId));
        break;
      case 'publish':
      case 'broadcast':
        conn.send(errorFrame(frame.topic, 'forbidden', `clients may not ${frame.action}: topics carry only what the service publishes`));
        break;
    }
  }

  /**
   * Terminates connections silent for a whole interval, pings the others. Done in slices, yielding to the event
   * loop between them, so that ten thousand pings do not hold up the delivery of live frames.
   */
  private sweep(): void {
    const all = [...this.connections];
    const slice = (from: number): void => {
      const end = Math.min(from + SWEEP_SLICE, all.length);
      for (let i = from; i < end; i++) {
        const conn = all[i]!;
        if (conn.closed) continue;
        if (!conn.alive) {
          conn.ws.terminate();
          continue;
        }
        conn.alive = false;
        conn.send(PING);
      }
      if (end < all.length) setImmediate(slice, end);
    };
    slice(0);
  }

  private expireTokens(): void {
    const deadline = Date.now() - this.config.jwt.clockSkewS * 1000;
    for (const conn of this.expiring) {
      if (conn.principal.expiresAt! <= deadline) {
        this.expiring.delete(conn);
        this.closeExpired(conn);
      }
    }
  }

  /** RATE_FRAMES_PER_S for a data frame or a ping: false when it is dropped. */
  private admitFrame(conn: ClientConnection): boolean {
    const verdict = conn.frameRate.take(Date.now());
    if (verdict === 'ok') return true;
    this.metrics.limitRefusals.inc({ limit: 'RATE_FRAMES_PER_S' });
    if (verdict === 'notify') conn.send(this.rateLimited);
    else if (verdict === 'close') this.closeAbusive(conn);
    return false;
  }

  private closeAbusive(conn: ClientConnection): void {
    if (conn.closed) return;
    this.log.info({ conn: conn.id, user: conn.userId }, 'connection closed for sending too many frames (1008)');
    conn.ws.close(CLOSE_POLICY, 'too many frames: far over RATE_FRAMES_PER_S for several seconds');
    // ws reads on until the closing handshake completes or times out (30 s): an abuser that keeps sending is cut.
    setTimeout(() => conn.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  private closeExpired(conn: ClientConnection): void {
    this.log.info({ conn: conn.id, user: conn.userId }, 'token expired while connected');
    conn.ws.close(CLOSE_TOKEN_EXPIRED, 'token expired');
  }
}
