import { ExecutionContext, Inject, Injectable, Optional } from '@nestjs/common';
import { ServiceMetrics } from '../ops/service-metrics';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions, ThrottlerStorage } from '@nestjs/throttler';
import { createHash } from 'node:crypto';
import { extractToken } from '../auth/principal';
import { ApiError } from '../errors/api-error';
import { retryAfterSeconds } from './connection-limits';

/** INGEST_RATE_PER_S and API_RATE_PER_S count requests per this window. */
const WINDOW_MS = 1000;

/** The throttler of the JWT-authenticated read endpoints (`@SkipThrottle({ [API_THROTTLER]: true })` elsewhere). */
export const API_THROTTLER = 'api';
/** The ingest throttler keeps Nest's default name (its Redis key ends in `:default}:hits`). */
export const INGEST_THROTTLER = 'default';

/**
 * Throttler options for the HTTP API, every count per token digest (the token itself is never a key) under
 * `<REDIS_PREFIX>`, so every replica counts in one place:
 * - `POST /v1/events`: INGEST_RATE_PER_S requests per second per service token, in `ingest:<digest>`;
 * - `GET /v1/projects/<P>/metrics`, `GET /v1/me/projects`: API_RATE_PER_S per user token, in `api:<digest>`.
 */
export function httpThrottlerOptions(ingestPerS: number, apiPerS: number, keyPrefix: string): ThrottlerModuleOptions {
  return {
    throttlers: [
      {
        name: INGEST_THROTTLER,
        ttl: WINDOW_MS,
        limit: ingestPerS,
        getTracker: (req: Record<string, unknown>) => {
          const auth = authorizationOf(req);
          // The token as the controller reads it, so that spellings of one header (`bearer  x`) count as one token.
          return digest(auth !== undefined ? (/^\s*Bearer\s+(\S+)\s*$/i.exec(auth)?.[1] ?? auth) : '');
        },
        generateKey: (_ctx, tracker) => `${keyPrefix}ingest:${tracker}`,
      },
      {
        name: API_THROTTLER,
        ttl: WINDOW_MS,
        limit: apiPerS,
        // The JWT wherever the endpoint takes it from (header or ?token=), as the controller reads it.
        getTracker: (req: Record<string, unknown>) => digest(extractToken(req.url as string | undefined, authorizationOf(req)) ?? ''),
        generateKey: (_ctx, tracker) => `${keyPrefix}api:${tracker}`,
      },
    ],
  };
}

function authorizationOf(req: Record<string, unknown>): string | undefined {
  const auth = (req.headers as Record<string, unknown> | undefined)?.authorization;
  return typeof auth === 'string' ? auth : undefined;
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 32);
}

/** The HTTP API's rate limits, answering 429 with the error body of protocol.md §6. */
@Injectable()
export class HttpThrottlerGuard extends ThrottlerGuard {
  @Optional() @Inject(ServiceMetrics) private readonly metrics?: ServiceMetrics;

  protected override throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const retry = retryAfterSeconds(detail.timeToBlockExpire * 1000);
    const api = /(^|:)api:[0-9a-f]{32}$/.test(detail.key);
    this.metrics?.limitRefusals.inc({ limit: api ? 'API_RATE_PER_S' : 'INGEST_RATE_PER_S' });
    const what = api
      ? `too many API requests for this token: at most ${detail.limit} per second (API_RATE_PER_S)`
      : `too many ingest requests for this token: at most ${detail.limit} per second (INGEST_RATE_PER_S)`;
    throw new ApiError('rate_limited', what, { limit: detail.limit, window_s: detail.ttl / 1000, retry_after_s: retry });
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
