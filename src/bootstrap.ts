import { INestApplication, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Express, NextFunction, Request, Response } from 'express';
import { json } from 'express';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { TokenVerifier } from './auth/token-verifier';
import { AppConfig } from './config/app-config';
import { ApiError } from './errors/api-error';
import { ApiExceptionFilter, sendApiError, toApiError } from './errors/api-exception.filter';
import { answerClientError } from './gateway/handshake';
import { ClientTransport } from './gateway/client-transport';
import { RealtimeWsAdapter } from './gateway/realtime-ws.adapter';
import { ConnectionLimits } from './limits/connection-limits';
import { LOGGER } from './ops/logger';
import { startMetricsServer } from './ops/metrics-server';
import { ReadinessService } from './ops/readiness.service';
import { ServiceMetrics } from './ops/service-metrics';
import { loadTlsPair, TlsReloader } from './ops/tls-reloader';

export interface RunningApp {
  app: INestApplication;
  port: number;
  /** `http://127.0.0.1:<port>` (`https://` when TLS_CERT_FILE/TLS_KEY_FILE are set) */
  httpUrl: string;
  /** `ws://127.0.0.1:<port><WS_SERVER_PATH>` (`wss://` when TLS_CERT_FILE/TLS_KEY_FILE are set) */
  wsUrl: string;
  /** Where Prometheus scrapes `/metrics` (METRICS_PORT; the bound port when it was 0). */
  metricsPort: number;
  /** Set when the service serves TLS itself: puts rotated certificate files in service. */
  tlsReloader?: TlsReloader;
  close(): Promise<void>;
}

/** Nest's own messages go to the same JSON log. */
class NestPinoLogger implements LoggerService {
  constructor(private readonly pino: Logger) {}
  log(message: unknown): void {
    this.pino.debug({ nest: true }, String(message));
  }
  error(message: unknown, trace?: string): void {
    this.pino.error({ nest: true, trace }, String(message));
  }
  warn(message: unknown): void {
    this.pino.warn({ nest: true }, String(message));
  }
}

/** Builds and starts the whole service; used by main.ts, the demo and every e2e test (port 0). */
export async function createApp(config: AppConfig): Promise<RunningApp> {
  // With TLS_CERT_FILE/TLS_KEY_FILE the port serves https (and so wss). Both files are read and checked before
  // anything starts: a missing, unreadable or mismatched file stops the start with a ConfigError naming it.
  const tlsPair = config.tls ? loadTlsPair(config.tls) : undefined;
  const app = await NestFactory.create(AppModule.forRoot(config), {
    bodyParser: false,
    logger: false,
    ...(tlsPair ? { httpsOptions: { cert: tlsPair.cert, key: tlsPair.key } } : {}),
  });
  const log = app.get<Logger>(LOGGER);
  app.useLogger(new NestPinoLogger(log));
  const readiness = app.get(ReadinessService);
  const metrics = app.get(ServiceMetrics);
  const transport = new ClientTransport(config.trustProxy);
  // The same TRUST_PROXY rule as the WebSocket side, so req.ip and req.protocol agree with it.
  (app.getHttpAdapter().getInstance() as Express).set('trust proxy', transport.trust);
  if (config.trustProxy === true) {
    log.warn(
      "TRUST_PROXY=true trusts every X-Forwarded-For hop: unless the proxy in front overwrites the header, a client chooses the address its per-address limit counts; prefer a hop count or the proxies' addresses",
    );
  }
  app.useWebSocketAdapter(
    new RealtimeWsAdapter(app, {
      config,
      verifier: app.get(TokenVerifier),
      limits: app.get(ConnectionLimits),
      transport,
      log,
      draining: () => readiness.isDraining,
      metrics,
    }),
  );
  if (config.requireTls) {
    // REQUIRE_TLS covers the API too; health probes stay reachable for the orchestrator.
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (!req.path.startsWith('/v1/') || transport.isSecure(req)) return next();
      sendApiError(res, new ApiError('tls_required', 'this service accepts TLS connections only: use https://'));
    });
  }
  app.use(json({ limit: config.ingest.maxBodyBytes, type: ['application/json', 'application/*+json'] }));
  // Body-parser failures (too large, not JSON) happen before routing: answer them with the same JSON errors.
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    sendApiError(res, toApiError(err));
  });
  app.useGlobalFilters(new ApiExceptionFilter(log));
  // SIGTERM drains (RealtimeGateway.beforeApplicationShutdown), SIGINT closes at once; either way the process
  // exits 0 once the app is closed (operations.md §5), instead of re-raising the signal.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  // Nest hands extra arguments on to http.Server#listen(port, host, backlog); its typings name only the host.
  // A deep accept queue matters when a replica restarts and thousands of clients reconnect at once:
  // Node's default (511) overflows and the kernel drops SYNs, which clients retry only after 1 s, then 3 s.
  const listen = app.listen.bind(app) as unknown as (port: number, host: string, backlog: number) => Promise<unknown>;
  await listen(config.port, '0.0.0.0', config.listenBacklog);
  const server = app.getHttpServer() as Server;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const reason = answerClientError(err, socket);
    if (reason) metrics.handshakeRefusals.inc({ reason });
  });
  const port = (server.address() as AddressInfo).port;
  let tlsReloader: TlsReloader | undefined;
  if (config.tls && tlsPair) {
    const reloader = new TlsReloader(server as HttpsServer, config.tls, log, tlsPair).start();
    // Stopped whichever way the app closes (close() below, or the shutdown hooks on a signal).
    server.once('close', () => reloader.stop());
    tlsReloader = reloader;
    log.info({ certificate: tlsPair.info }, 'serving tls');
  }
  const metricsServer = await startMetricsServer(metrics, config.metricsPort, log).catch(async (err: unknown) => {
    await app.close();
    throw err;
  });
  server.once('close', () => void metricsServer.close());
  log.info({ port, wsPath: config.wsPath, tls: Boolean(tlsPair) }, 'listening');
  const scheme = tlsPair ? 's' : '';
  return {
    app,
    port,
    httpUrl: `http${scheme}://127.0.0.1:${port}`,
    wsUrl: `ws${scheme}://127.0.0.1:${port}${config.wsPath}`,
    metricsPort: metricsServer.port,
    ...(tlsReloader ? { tlsReloader } : {}),
    close: async () => {
      tlsReloader?.stop();
      await app.close();
      await metricsServer.close();
    },
  };
}
