import { createHmac } from 'node:crypto';
import http from 'node:http';
import { HandshakeRefused, TestClient } from '../helpers/ws-client';

/** Helpers for the adversarial handshake specs: hand-made tokens and refusals with a deadline. */

export const b64url = (value: object | string): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A token with `alg: none` and an empty signature, made by hand (no library would sign it). */
export function unsignedToken(claims: object, header: object = { alg: 'none', typ: 'JWT' }): string {
  return `${b64url(header)}.${b64url(claims)}.`;
}

/** An HS256 token whose HMAC key is `key` (for key confusion: the server's public key PEM). */
export function hs256WithKey(claims: object, key: string): string {
  const head = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`;
  return `${head}.${createHmac('sha256', key).update(head).digest('base64url')}`;
}

/** A validly signed token whose payload was replaced after signing (the signature kept). */
export function tamperedToken(signed: string, change: (claims: Record<string, unknown>) => Record<string, unknown>): string {
  const [head, payload, sig] = signed.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
  return `${head}.${b64url(change(claims))}.${sig}`;
}

export interface Refusal {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  elapsedMs: number;
}

/**
 * Connects and expects the handshake to be refused within `deadlineMs` (the original hung on some failures).
 * Fails if it is accepted, or if no HTTP answer arrives in time.
 */
export async function refusal(url: string, headers?: Record<string, string>, deadlineMs = 2000): Promise<Refusal> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer to the handshake within ${deadlineMs} ms`)), deadlineMs);
  });
  try {
    const client = await Promise.race([TestClient.connect(url, { headers }), deadline]);
    client.close();
  } catch (err) {
    if (err instanceof HandshakeRefused)
      return { status: err.status, body: err.body, headers: err.headers, elapsedMs: Date.now() - started };
    throw err;
  } finally {
    clearTimeout(timer);
  }
  throw new Error('the handshake was accepted');
}

/**
 * A raw HTTP upgrade request (no WebSocket client library in between), for inputs a client library might
 * refuse to send or that the server may answer before reading them whole. Resolves with the status and body,
 * or with `status: 0` and the socket error when the connection ended without an HTTP answer.
 */
export function rawUpgrade(
  port: number,
  path: string,
  deadlineMs = 3000,
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders; error?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      method: 'GET',
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': Buffer.from('0123456789abcdef').toString('base64'),
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${deadlineMs} ms`));
    }, deadlineMs);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      });
      res.on('error', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      });
    });
    req.on('upgrade', (res, socket) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, body: '', headers: res.headers });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      resolve({ status: 0, body: '', headers: {}, error: err.message });
    });
    req.end();
  });
}
