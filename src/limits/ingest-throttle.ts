import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions, ThrottlerStorage } from '@nestjs/throttler';
import { createHash } from 'node:crypto';
import { ApiError } from '../errors/api-error';
import { retryAfterSeconds } from './connection-limits';

/** INGEST_RATE_PER_S counts requests per this window. */
const INGEST_WINDOW_MS = 1000;

/**
 * Throttler options for `POST /v1/events`: INGEST_RATE_PER_S requests per second per service token (by its
 * digest: the token itself is never a key), in `<REDIS_PREFIX>ingest:<digest>` so every replica counts in one place.
 */
export function ingestThrottlerOptions(ratePerS: number, keyPrefix: string): ThrottlerModuleOptions {
  return {
    throttlers: [{ name: 'default', ttl: INGEST_WINDOW_MS, limit: ratePerS }],
    getTracker: (req: Record<string, unknown>) => {
      const auth = (req.headers as Record<string, unknown> | undefined)?.authorization;
      // The token as the controller reads it, so that spellings of one header (`bearer  x`) count as one token.
      const token = typeof auth === 'string' ? (/^\s*Bearer\s+(\S+)\s*$/i.exec(auth)?.[1] ?? auth) : '';
      return createHash('sha256').update(token).digest('hex').slice(0, 32);
    },
    generateKey: (_ctx, tracker) => `${keyPrefix}ingest:${tracker}`,
  };
}

/** The ingest rate limit, answering 429 with the error body of protocol.md §6. */
@Injectable()
export class IngestThrottlerGuard extends ThrottlerGuard {
  protected override throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const retry = retryAfterSeconds(detail.timeToBlockExpire * 1000);
    throw new ApiError('rate_limited', `too many ingest requests for this token: at most ${detail.limit} per second (INGEST_RATE_PER_S)`, {
      limit: detail.limit,
      window_s: detail.ttl / 1000,
      retry_after_s: retry,
    });
  }
}

/**
 * A storage whose failures answer 503 like the rest of ingest while Redis is away, instead of a 500.
 * `isUnavailable` says which errors mean "the store cannot be reached".
 */
export class GuardedThrottlerStorage implements ThrottlerStorage {
  constructor(
    private readonly inner: ThrottlerStorage,
    private readonly isUnavailable: (err: unknown) => boolean,
  ) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<Awaited<ReturnType<ThrottlerStorage['increment']>>> {
    try {
      return await this.inner.increment(key, ttl, limit, blockDuration, throttlerName);
    } catch (err) {
      if (this.isUnavailable(err)) throw new ApiError('unavailable', 'the engine (Redis) is unreachable: nothing was applied; retry');
      throw err;
    }
  }
}
