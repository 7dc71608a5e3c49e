import { Body, Controller, Headers, HttpCode, Inject, Post, UseGuards } from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../config/config.module';
import { ApiError } from '../../errors/api-error';
import { API_THROTTLER, HttpThrottlerGuard } from '../../limits/ingest-throttle';
import { LOGGER } from '../../ops/logger';
import { ReadinessService } from '../../ops/readiness.service';
import { IngestValidationError } from '../event-validation';
import { IngestPipeline, IngestResult } from '../ingest-pipeline.service';

/** ingest.md §2.1: `POST /v1/events` with the service token, INGEST_RATE_PER_S requests per second per token. */
@Controller('v1/events')
@UseGuards(HttpThrottlerGuard)
@SkipThrottle({ [API_THROTTLER]: true })
export class IngestController {
  private readonly tokenDigest: Buffer | null;

  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly readiness: ReadinessService,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.tokenDigest = config.ingest.token ? digest(config.ingest.token) : null;
  }

  @Post()
  @HttpCode(202)
  async ingest(@Headers('authorization') authorization: string | undefined, @Body() body: unknown): Promise<IngestResult> {
    this.authorize(authorization);
    if (this.readiness.isDraining) throw new ApiError('unavailable', 'this replica is draining: send to another one');
    if (!this.readiness.isReady('redis'))
      throw new ApiError('unavailable', 'the engine (Redis) is unreachable: nothing was applied; retry');
    if (typeof body !== 'object' || body === null) {
      throw new ApiError('bad_request', 'body must be an event envelope or an array of envelopes (Content-Type: application/json)');
    }
    const batch = Array.isArray(body) ? (body as unknown[]) : [body];
    let events;
    try {
      events = this.pipeline.validate(batch);
    } catch (err) {
      if (err instanceof IngestValidationError) {
        this.log.warn({ index: err.index, field: err.field, code: err.code }, `ingest refused: ${err.message}`);
        throw new ApiError(err.code, err.message, { index: err.index, field: err.field });
      }
      throw err;
    }
    return this.pipeline.ingest(events);
  }

  private authorize(authorization: string | undefined): void {
    if (!this.tokenDigest) throw new ApiError('unauthorized', 'HTTP ingest is disabled: INGEST_TOKEN is not set');
    const m = authorization ? /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!m || !timingSafeEqual(digest(m[1]!), this.tokenDigest)) {
      throw new ApiError('unauthorized', 'missing or invalid service token (Authorization: Bearer <INGEST_TOKEN>)');
    }
  }
}

/** Equal-length digests make the comparison constant-time whatever the token lengths. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
