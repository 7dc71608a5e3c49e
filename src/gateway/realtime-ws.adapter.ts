import { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { TokenVerifier } from '../auth/token-verifier';
import { AppConfig } from '../config/app-config';
import { ApiError } from '../errors/api-error';
import { normalizePath, refuseUpgrade, requestPath, tokenOf } from './handshake';

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
    private readonly deps: { config: AppConfig; verifier: TokenVerifier; log: Logger; draining: () => boolean },
  ) {
    super(app);
  }

  override create(): WebSocketServer {
    const { config, verifier, log, draining } = this.deps;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.ws.maxPayloadBytes,
      // Off, and it must stay off: fan-out writes prepared frames straight to the socket (ClientConnection),
      // which is safe only while ws writes every frame of its own at once, without a compression queue.
      perMessageDeflate: false,
      clientTracking: false,
    });
    const path = normalizePath(config.wsPath);
    const server = this.httpServer as HttpServer;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      if (requestPath(req.url) !== path) {
        refuseUpgrade(socket, new ApiError('not_found', `no WebSocket endpoint here; connect to ${config.wsPath}`));
        return;
      }
      if (draining()) {
        refuseUpgrade(socket, new ApiError('unavailable', 'this replica is shutting down; connect again to reach another one'));
        return;
      }
      const result = verifier.verify(tokenOf(req));
      if (!result.ok) {
        log.info({ reason: result.reason, ip: req.socket.remoteAddress }, 'connection refused');
        refuseUpgrade(socket, new ApiError('unauthorized', result.message));
        return;
      }
      const principal = result.principal;
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, principal, socket));
    });
    wss.on('error', (err) => log.error({ err }, 'websocket server error'));
    return wss;
  }

  override bindMessageHandlers(): void {
    // The gateway reads frames itself; see the class comment.
  }

  override async close(server: WebSocketServer): Promise<void> {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
