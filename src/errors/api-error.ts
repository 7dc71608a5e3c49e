/**
 * Stable error codes and, in one place, their HTTP statuses (protocol.md §6). Handshake refusals and
 * HTTP API errors all answer `{"error": {"code", "message", ...details}}` with these.
 */
export const HTTP_STATUS_OF = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  payload_too_large: 413,
  tls_required: 426,
  rate_limited: 429,
  too_many_connections: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ApiErrorCode = keyof typeof HTTP_STATUS_OF;

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get status(): number {
    return HTTP_STATUS_OF[this.code];
  }

  body(): string {
    return JSON.stringify({ error: { code: this.code, message: this.message, ...this.details } });
  }
}

/** The error a given HTTP status stands for, with a message safe to show a client. */
export function apiErrorForStatus(status: number, message?: string): ApiError {
  const code = (Object.keys(HTTP_STATUS_OF) as ApiErrorCode[]).find((c) => HTTP_STATUS_OF[c] === status);
  if (code) return new ApiError(code, message ?? code.replace(/_/g, ' '));
  return status >= 500 ? new ApiError('internal', 'internal error') : new ApiError('bad_request', message ?? 'bad request');
}
