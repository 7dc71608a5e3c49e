import { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { Principal } from '../auth/principal';
import { TokenVerifier } from '../auth/token-verifier';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../errors/api-error';
import { ConnectionLimits } from '../limits/connection-limits';
import { ClientTransport, addressKey } from './client-transport';
import { SlidingWindows } from '../limits/sliding-window';
import { HandshakeRefusal, ServiceMetrics } from '../ops/service-metrics';
import { failedHandshakesRefusal, limitRefusal, normalizePath, refuseUpgrade, requestPath, tokenOf } from './handshake';

const shuttingDown = () => new ApiError('unavailable', 'this replica is shutting down; connect again to reach another one');

/** How long a handshake waits for the limits' answer before it is refused with 503. */
const ADMIT_TIMEOUT_MS = 2000;

export interface RealtimeWsAdapterDeps {
  config: AppConfig;
  verifier: TokenVerifier;
  limits: ConnectionLimits;
  transport: ClientTransport;
  log: Logger;
  draining: () => boolean;
  metrics: ServiceMetrics;
}

/**
 * The WebSocket adapter: owns the HTTP `upgrade` event so that a handshake is authenticated before it is
 * accepted and a refusal is answered at once with a status and JSON body (Nest guards do not run on
 * connection hooks). Accepted sockets reach the gateway's handleConnection with their Principal and the
 * upgraded TCP socket (fan-out writes prepared frames to it).
 * Frames are dispatched by the gateway itself (Tiledesk frames are `{action, payload}`, not Nest's
 * `{event, data}`), so the per-message RxJS pipeline of the stock adapter is not used.
 */
export class RealtimeWsAdapter extends WsAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly deps: RealtimeWsAdapterDeps,
  ) {
    super(app);
  }

  override create(): WebSocketServer {
    const { config, verifier, transport, log, draining, metrics } = this.deps;
    const refuse = (socket: Duplex, err: ApiError, reason: HandshakeRefusal) => this.refuse(socket, err, reason);
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.ws.maxPayloadBytes,
      // Off, and it must stay off: fan-out writes prepared frames straight to the socket (ClientConnection),
      // which is safe only while ws writes every frame of its own at once, without a compression queue.
      perMessageDeflate: false,
      clientTracking: false,
      // Pings are answered by the gateway, through the same frame limit as every other client frame.
      autoPong: false,
    });
    const path = normalizePath(config.wsPath);
    const server = this.httpServer as HttpServer;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      if (requestPath(req.url) !== path) {
        refuse(socket, new ApiError('not_found', `no WebSocket endpoint here; connect to ${config.wsPath}`), 'not_found');
        return;
      }
      if (draining()) {
        refuse(socket, shuttingDown(), 'draining');
        return;
      }
      if (config.requireTls && !transport.isSecure(req)) {
        refuse(socket, new ApiError('tls_required', 'this service accepts TLS connections only: connect with wss://'), 'tls_required');
        return;
      }
      const ip = transport.clientIp(req);
      const ipKey = addressKey(ip);
      // An address that keeps failing is refused before its token is checked (a verify with a public key is
      // the costly step of a handshake); counted by this replica alone, as no place is taken.
      const failing = this.failedHandshakes.current(ipKey);
      if (failing && failing.times.length >= config.limits.connPerIpPerMin) {
        log.info({ reason: 'failed_handshakes', ip }, 'connection refused');
        metrics.limitRefusals.inc({ limit: 'RATE_CONN_PER_IP_PER_MIN' });
        refuse(socket, failedHandshakesRefusal(config.limits.connPerIpPerMin, failing.retryAfter(Date.now())), 'rate_limited');
        return;
      }
      const result = verifier.verify(tokenOf(req));
      if (!result.ok) {
        this.failedHandshakes.record(ipKey);
        log.info({ reason: result.reason, ip }, 'connection refused');
        metrics.authFailures.inc({ reason: result.reason });
        refuse(socket, new ApiError('unauthorized', result.message), 'unauthorized');
        return;
      }
      this.admitThenUpgrade(wss, req, socket, head, result.principal, ip, ipKey);
    });
    wss.on('error', (err) => log.error({ err }, 'websocket server error'));
    return wss;
  }

  /**
   * Counts the connection against the limits (one Redis round trip on the Redis engine), then upgrades it. Its place
   * is given back however it ends before the gateway owns it: ws drops an upgrade without calling back when the
   * request is not a valid WebSocket handshake or the client went away meanwhile, and the gateway never sees it.
   */
  private admitThenUpgrade(
    wss: WebSocketServer,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    principal: Principal,
    ip: string,
    ipKey: string,
  ): void {
    const { limits, log, draining, metrics } = this.deps;
    const connId = randomUUID();
    const userId = principal.userId;
    const unavailable = () => new ApiError('unavailable', 'connection limits cannot be checked right now (engine unreachable); try again');
    let answered = false;
    // A Redis that accepts connections but does not answer must not hold handshakes (and their sockets) for ever.
    const timer = setTimeout(() => {
      answered = true;
      log.warn({ user: userId, ip }, 'connection refused: limits did not answer in time');
      this.refuse(socket, unavailable(), 'unavailable');
    }, ADMIT_TIMEOUT_MS);
    timer.unref();
    limits.admit({ connId, userId, ip: ipKey }).then(
      (admission) => {
        clearTimeout(timer);
        if (answered) {
          if (admission.ok) limits.release(connId, userId); // counted after the client was told 503
          return;
        }
        answered = true;
        if (!admission.ok) {
          log.info({ reason: admission.limit, user: userId, ip }, 'connection refused');
          metrics.limitRefusals.inc({ limit: admission.limit });
          const refusal = limitRefusal(admission);
          this.refuse(socket, refusal, refusal.code === 'too_many_connections' ? 'too_many_connections' : 'rate_limited');
          return;
        }
        if (socket.destroyed) {
          limits.release(connId, userId);
          return;
        }
        let delivered = false;
        socket.once('close', () => {
          if (!delivered) limits.release(connId, userId);
        });
        if (draining()) {
          this.refuse(socket, shuttingDown(), 'draining');
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          delivered = true;
          wss.emit('connection', ws, principal, socket, connId);
        });
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (answered) return;
        answered = true;
        log.warn({ err, user: userId, ip }, 'connection refused: limits unavailable');
        this.refuse(socket, unavailable(), 'unavailable');
      },
    );
  }

  private refuse(socket: Duplex, err: ApiError, reason: HandshakeRefusal): void {
    this.deps.metrics.handshakeRefusals.inc({ reason });
    refuseUpgrade(socket, err);
  }

  /** Handshakes refused for their token, by client address (this replica's count). */
  private readonly failedHandshakes = new SlidingWindows();

  override bindMessageHandlers(): void {
    // The gateway reads frames itself; see the class comment.
  }

  override async close(server: WebSocketServer): Promise<void> {
    this.failedHandshakes.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
