import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { extractToken } from '../auth/principal';
import { ApiError } from '../errors/api-error';

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

/** Answers a refused upgrade at once with the JSON body of protocol.md §6, then closes the socket. */
export function refuseUpgrade(socket: Duplex, error: ApiError): void {
  const body = error.body();
  const retry = error.details.retry_after_s;
  const head = [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(typeof retry === 'number' ? [`Retry-After: ${retry}`] : []),
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}
