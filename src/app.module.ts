import { DynamicModule, Injectable, Module, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { AuthModule } from './auth/auth.module';
import { Bus } from './bus/bus';
import { MemoryBus } from './bus/memory/memory-bus';
import { AppConfig } from './config/app-config';
import { APP_CONFIG, ConfigModule } from './config/config.module';
import { FanoutService } from './fanout/fanout.service';
import { RealtimeGateway } from './gateway/realtime.gateway';
import { IngestController } from './ingest/http/ingest.controller';
import { IngestPipeline } from './ingest/ingest-pipeline.service';
import { HealthController } from './ops/health.controller';
import { LOGGER, createLogger } from './ops/logger';
import { MemoryReadModel } from './store/memory/memory-read-model';
import { ReadModel } from './store/read-model';

/** Periodic housekeeping of the memory engine: closed-request and dedupe expiry. */
@Injectable()
class MemorySweeper implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | null = null;
  constructor(private readonly store: ReadModel) {}
  onModuleInit(): void {
    if (!(this.store instanceof MemoryReadModel)) return;
    const store = this.store;
    this.timer = setInterval(() => store.sweep(), 60_000);
    this.timer.unref();
  }
  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** The composition root: the engine's adapters are chosen here and nowhere else. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), AuthModule],
      controllers: [IngestController, HealthController],
      providers: [
        { provide: LOGGER, useValue: createLogger(config.logLevel) },
        {
          provide: ReadModel,
          useFactory: (c: AppConfig) =>
            new MemoryReadModel({
              history: c.history,
              closedRequestTtlS: c.retention.closedRequestTtlS,
              eventsTtlS: c.retention.eventsTtlS,
              dedupeTtlS: c.ingest.dedupeTtlS,
            }),
          inject: [APP_CONFIG],
        },
        { provide: Bus, useClass: MemoryBus },
        MemorySweeper,
        FanoutService,
        IngestPipeline,
        RealtimeGateway,
      ],
      exports: [IngestPipeline, ReadModel, LOGGER],
    };
  }
}
