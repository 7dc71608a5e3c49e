import {
  DynamicModule,
  Inject,
  Injectable,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleDestroy,
  OnModuleInit,
  Provider,
} from '@nestjs/common';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { ThrottlerStorageService, getOptionsToken, getStorageToken } from '@nestjs/throttler';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { MetricsController } from './analytics/metrics.controller';
import { AuthModule } from './auth/auth.module';
import { Bus } from './bus/bus';
import { MemoryBus } from './bus/memory/memory-bus';
import { projectChannel } from './bus/redis/project-channel';
import { RedisBus } from './bus/redis/redis-bus';
import { AppConfig } from './config/app-config';
import { APP_CONFIG, ConfigModule } from './config/config.module';
import { DashboardModule } from './dashboard/serve/dashboard.module';
import { RedisConnections, isConnectionError } from './engine/redis-connections';
import { FanoutService } from './fanout/fanout.service';
import { RealtimeGateway } from './gateway/realtime.gateway';
import { IngestController } from './ingest/http/ingest.controller';
import { AmqpConsumer } from './ingest/amqp/amqp-consumer';
import { IngestPipeline } from './ingest/ingest-pipeline.service';
import { RedisStreamConsumer } from './ingest/redis-stream/redis-stream-consumer';
import { HealthController } from './ops/health.controller';
import { ConnectionLimits } from './limits/connection-limits';
import { GuardedThrottlerStorage, HttpThrottlerGuard, httpThrottlerOptions } from './limits/ingest-throttle';
import { MemoryConnectionLimits } from './limits/memory/memory-connection-limits';
import { RedisConnectionLimits } from './limits/redis/redis-connection-limits';
import { LOGGER, createLogger } from './ops/logger';
import { READINESS_CHECKS, ReadinessCheck, ReadinessService } from './ops/readiness.service';
import { ServiceMetrics } from './ops/service-metrics';
import { MemoryReadModel } from './store/memory/memory-read-model';
import { ReadModel } from './store/read-model';
import { RedisReadModel } from './store/redis/redis-read-model';

const SWEEP_INTERVAL_MS = 60_000;

/** Periodic housekeeping of the read model (closed-request and dedupe expiry), for either engine. */
@Injectable()
class ReadModelSweeper implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | null = null;
  constructor(
    private readonly store: ReadModel,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}
  onModuleInit(): void {
    this.timer = setInterval(() => {
      Promise.resolve(this.store.sweep()).catch((err: unknown) => this.log.warn({ err }, 'read model sweep failed'));
    }, SWEEP_INTERVAL_MS);
    this.timer.unref();
  }
  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/**
 * Redis engine lifecycle: the stream consumer starts once the app is up and stops first on shutdown; the
 * connections close last, after the gateway has closed its sockets.
 */
@Injectable()
class RedisEngineLifecycle implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  constructor(
    private readonly connections: RedisConnections,
    @Inject(RedisStreamConsumer) private readonly consumer: RedisStreamConsumer,
    private readonly fanout: FanoutService,
    private readonly bus: Bus,
  ) {}
  private stopping = false;
  private resyncWaiting = false;

  onApplicationBootstrap(): void {
    this.consumer.start();
    if (this.bus instanceof RedisBus) this.bus.onRejoined(() => this.resyncWhenCommandsWork());
  }

  /**
   * The subscriber may be back before the command connection: snapshots are read once commands work, however
   * long that takes; rejoins meanwhile share that one resync.
   */
  private resyncWhenCommandsWork(): void {
    if (this.connections.commandReady) return this.fanout.resyncAll('the bus reconnected');
    if (this.resyncWaiting) return;
    this.resyncWaiting = true;
    this.connections.command.once('ready', () => {
      this.resyncWaiting = false;
      if (!this.stopping) this.fanout.resyncAll('the bus reconnected');
    });
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    await this.consumer.stop();
  }
  async onApplicationShutdown(): Promise<void> {
    await this.connections.close();
  }
}

function memoryEngine(): Provider[] {
  return [
    {
      provide: ReadModel,
      useFactory: (c: AppConfig) =>
        new MemoryReadModel({
          history: c.history,
          closedRequestTtlS: c.retention.closedRequestTtlS,
          eventsTtlS: c.retention.eventsTtlS,
          dedupeTtlS: c.ingest.dedupeTtlS,
          tombstoneTtlS: c.retention.tombstoneTtlS,
          metrics: c.metrics,
        }),
      inject: [APP_CONFIG],
    },
    { provide: Bus, useClass: MemoryBus },
    { provide: READINESS_CHECKS, useValue: [] },
    {
      provide: ConnectionLimits,
      useFactory: (c: AppConfig) => new MemoryConnectionLimits({ values: c.limits, capRetryMs: c.ws.heartbeatIntervalMs }),
      inject: [APP_CONFIG],
    },
    { provide: getStorageToken(), useClass: ThrottlerStorageService },
  ];
}

function redisEngine(): Provider[] {
  return [
    {
      provide: RedisConnections,
      useFactory: async (c: AppConfig, log: Logger, metrics: ServiceMetrics) => {
        const connections = new RedisConnections(c.redis!, log, (name) => metrics.redisReconnected(name));
        // Start even when Redis is away: /readyz says so, and everything resumes when it comes back.
        await connections.ready(5000).catch((err: unknown) => log.warn({ err }, 'redis not reachable at start'));
        return connections;
      },
      inject: [APP_CONFIG, LOGGER, ServiceMetrics],
    },
    {
      provide: ReadModel,
      useFactory: (c: AppConfig, connections: RedisConnections, metrics: ServiceMetrics) =>
        new RedisReadModel(connections, {
          history: c.history,
          closedRequestTtlS: c.retention.closedRequestTtlS,
          eventsTtlS: c.retention.eventsTtlS,
          dedupeTtlS: c.ingest.dedupeTtlS,
          tombstoneTtlS: c.retention.tombstoneTtlS,
          metrics: c.metrics,
          channel: (projectId) => projectChannel(connections.prefix, projectId),
          wait: { waitReplicas: c.redis!.waitReplicas, waitTimeoutMs: c.redis!.waitTimeoutMs },
          onCommitRetry: () => metrics.commitRetries.inc(),
          onGuessMiss: () => metrics.guessMisses.inc(),
        }),
      inject: [APP_CONFIG, RedisConnections, ServiceMetrics],
    },
    {
      provide: Bus,
      useFactory: (connections: RedisConnections, log: Logger) => new RedisBus(connections, log),
      inject: [RedisConnections, LOGGER],
    },
    {
      provide: RedisStreamConsumer,
      useFactory: (c: AppConfig, connections: RedisConnections, pipeline: IngestPipeline, log: Logger) =>
        new RedisStreamConsumer(connections, pipeline, { claimIdleMs: c.redis!.claimIdleMs, streamMaxLen: c.redis!.streamMaxLen }, log),
      inject: [APP_CONFIG, RedisConnections, IngestPipeline, LOGGER],
    },
    {
      provide: READINESS_CHECKS,
      useFactory: (connections: RedisConnections, bus: Bus, consumer: RedisStreamConsumer): ReadinessCheck[] => [
        { name: 'redis', ready: () => connections.commandReady },
        { name: 'bus', ready: () => bus.connected },
        { name: 'ingest_stream', ready: () => consumer.status.healthy },
      ],
      inject: [RedisConnections, Bus, RedisStreamConsumer],
    },
    {
      provide: ConnectionLimits,
      useFactory: (c: AppConfig, connections: RedisConnections, log: Logger) =>
        new RedisConnectionLimits(connections, { values: c.limits, leaseMs: c.ws.heartbeatIntervalMs, log }),
      inject: [APP_CONFIG, RedisConnections, LOGGER],
    },
    {
      provide: getStorageToken(),
      useFactory: (connections: RedisConnections) =>
        // The storage takes a Redis or a Cluster (one overload each); the command connection is one of them.
        new GuardedThrottlerStorage(new ThrottlerStorageRedisService(connections.command as Redis), isConnectionError),
      inject: [RedisConnections],
    },
    RedisEngineLifecycle,
  ];
}

/** AMQP_URL: Tiledesk's fan-out consumed by every replica, whichever the engine (ingest.md §2.3). */
function amqpTransport(): Provider[] {
  return [
    {
      provide: AmqpConsumer,
      useFactory: (c: AppConfig, pipeline: IngestPipeline, log: Logger, metrics: ServiceMetrics) =>
        new AmqpConsumer(c.amqp!, pipeline, log, metrics),
      inject: [APP_CONFIG, IngestPipeline, LOGGER, ServiceMetrics],
    },
    AmqpLifecycle,
  ];
}

/** The AMQP consumer starts once the app is up and stops taking messages first on shutdown. */
@Injectable()
class AmqpLifecycle implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(private readonly consumer: AmqpConsumer) {}
  onApplicationBootstrap(): void {
    this.consumer.start();
  }
  async onModuleDestroy(): Promise<void> {
    await this.consumer.stop();
  }
}

/** The composition root: the engine's adapters are chosen here and nowhere else. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), AuthModule, DashboardModule],
      controllers: [IngestController, MetricsController, HealthController],
      providers: [
        { provide: LOGGER, useValue: createLogger(config.logLevel) },
        { provide: ServiceMetrics, useValue: new ServiceMetrics() },
        ...(config.redis ? redisEngine() : memoryEngine()),
        ...(config.amqp ? amqpTransport() : []),
        {
          provide: ReadinessService,
          useFactory: (checks: ReadinessCheck[], amqpConsumer?: AmqpConsumer) =>
            new ReadinessService(amqpConsumer ? [...checks, { name: 'amqp', ready: () => amqpConsumer.healthy }] : checks),
          inject: [READINESS_CHECKS, { token: AmqpConsumer, optional: true }],
        },
        {
          provide: getOptionsToken(),
          useValue: httpThrottlerOptions(config.limits.ingestPerS, config.limits.apiPerS, config.redis?.prefix ?? ''),
        },
        HttpThrottlerGuard,
        ReadModelSweeper,
        FanoutService,
        IngestPipeline,
        RealtimeGateway,
      ],
      exports: [IngestPipeline, ReadModel, ConnectionLimits, LOGGER],
    };
  }
}
