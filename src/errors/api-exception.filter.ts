import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import type { Response } from 'express';
import type { Logger } from 'pino';
import { LOGGER } from '../ops/logger';
import { ApiError, apiErrorForStatus } from './api-error';

/** Every HTTP error leaves as the JSON body of protocol.md §6; internal details stay in the log. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly log: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const error = toApiError(exception);
    // An ApiError is an answer; anything else reaching here is a bug worth its stack trace.
    if (!(exception instanceof ApiError) && error.status >= 500) this.log.error({ err: exception }, 'request failed');
    sendApiError(res, error);
  }
}

export function toApiError(exception: unknown): ApiError {
  if (exception instanceof ApiError) return exception;
  if (exception instanceof Error && exception.name === 'EngineUnavailableError') {
    return new ApiError(
      'unavailable',
      'the engine (Redis) is unreachable or the project too busy: the batch was not applied whole (each event is applied entirely or not at all); retry it, events already applied come back as duplicates or stale',
    );
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    return apiErrorForStatus(status, status === 404 ? 'no such route' : undefined);
  }
  const status = (exception as { status?: unknown; type?: unknown }).status;
  if (typeof status === 'number') {
    // body-parser errors: entity.too.large, entity.parse.failed, ...
    const type = (exception as { type?: unknown }).type;
    if (type === 'entity.too.large') return new ApiError('payload_too_large', 'request body is over INGEST_MAX_BODY_BYTES');
    if (type === 'entity.parse.failed') return new ApiError('bad_request', 'request body is not valid JSON');
    return apiErrorForStatus(status);
  }
  return new ApiError('internal', 'internal error');
}

export function sendApiError(res: Response, error: ApiError): void {
  if (res.headersSent) return;
  const retry = error.details.retry_after_s;
  if (typeof retry === 'number') res.setHeader('Retry-After', String(retry));
  res.status(error.status).type('application/json').send(error.body());
}
