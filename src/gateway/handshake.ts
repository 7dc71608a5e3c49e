import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { extractToken } from '../auth/principal';
import { ApiError } from '../errors/api-error';
import { Admission, CONNECTION_RATE_WINDOW_MS, retryAfterSeconds } from '../limits/connection-limits';

/** The path part of a request target, with a trailing slash ignored (`/ws/` and `/ws` are one path). */
export function requestPath(url: string | undefined): string {
  const raw = (url ?? '/').split('?', 1)[0]!;
  return normalizePath(raw);
}

export function normalizePath(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

export function tokenOf(req: IncomingMessage): string | undefined {
  return extractToken(req.url, req.headers.authorization);
}

/**
 * Answers a refused upgrade at once with the JSON body of protocol.md §6, then closes the socket. `status`
 * overrides the code's own status where HTTP has a more precise one (431 for headers too large).
 */
export function refuseUpgrade(socket: Duplex, error: ApiError, status = error.status): void {
  if (socket.destroyed) return;
  const body = error.body();
  const retry = error.details.retry_after_s;
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(typeof retry === 'number' ? [`Retry-After: ${retry}`] : []),
  ];
  // The server's sockets allow half-open connections: without this a client that never closes would hold the
  // socket (and a file descriptor) after its refusal, which is what a handshake flood would do.
  socket.once('finish', () => socket.destroy());
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

/** The 429 answer to a handshake over a limit: which limit, its value, its window, when to come back. */
export function limitRefusal(refused: Extract<Admission, { ok: false }>): ApiError {
  const retry_after_s = retryAfterSeconds(refused.retryAfterMs);
  const window_s = CONNECTION_RATE_WINDOW_MS / 1000;
  switch (refused.limit) {
    case 'RATE_CONN_PER_USER_PER_MIN':
      return new ApiError(
        'rate_limited',
        `too many new connections for this user: at most ${refused.max} per minute (RATE_CONN_PER_USER_PER_MIN)`,
        { limit: refused.max, window_s, retry_after_s },
      );
    case 'RATE_CONN_PER_IP_PER_MIN':
      return new ApiError(
        'rate_limited',
        `too many new connections from this address: at most ${refused.max} per minute (RATE_CONN_PER_IP_PER_MIN)`,
        { limit: refused.max, window_s, retry_after_s },
      );
    case 'MAX_CONN_PER_USER':
      return new ApiError(
        'too_many_connections',
        `this user has ${refused.max} open connections, the most allowed (MAX_CONN_PER_USER); close one first`,
        { limit: refused.max, retry_after_s },
      );
  }
}

/**
 * Node's HTTP parser refuses a request before any handler sees it (headers over its 16 KiB limit, such as a huge
 * token in the URL, or bytes that are not HTTP); by default it answers with an empty body. This answers with the
 * JSON error body like every other refusal.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): 'header_too_large' | 'bad_request' | null {
  // As Node's own handler: no answer once a response on this connection has begun.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight) {
    socket.destroy();
    return null;
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    refuseUpgrade(socket, new ApiError('bad_request', 'the request took too long to arrive'), 408);
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    refuseUpgrade(
      socket,
      new ApiError('bad_request', 'request headers are too large (over 16 KiB): send the token once, and a short one'),
      431,
    );
    return 'header_too_large';
  } else {
    refuseUpgrade(socket, new ApiError('bad_request', 'malformed HTTP request'));
  }
  return 'bad_request';
}

/** The 429 answer to an address whose handshakes kept failing (bad tokens) over RATE_CONN_PER_IP_PER_MIN. */
export function failedHandshakesRefusal(max: number, retryAfterMs: number): ApiError {
  return new ApiError(
    'rate_limited',
    `too many failed handshakes from this address: at most ${max} per minute (RATE_CONN_PER_IP_PER_MIN); check the token`,
    { limit: max, window_s: CONNECTION_RATE_WINDOW_MS / 1000, retry_after_s: retryAfterSeconds(retryAfterMs) },
  );
}
