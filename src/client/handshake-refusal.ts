/**
 * A refused WebSocket upgrade as the service answers it (protocol.md §6): an HTTP status and a JSON body
 * `{"error":{"code","message",...}}`, with `Retry-After` on 429. Browsers never show it (a refused upgrade is a
 * close 1006 there); the Node entry's WebSocket reads it. Pure; browser-safe.
 */
export interface HandshakeRefusal {
  status: number;
  /** The body as it came (JSON text from this service; anything from a proxy in between). */
  body: string;
  /** The body's `error` object when it is one. */
  error: { code: string; message: string; retry_after_s?: number; [detail: string]: unknown } | null;
  /** From `Retry-After` (seconds) or the body's `retry_after_s`; null when neither is given. */
  retryAfterMs: number | null;
}

export function parseHandshakeRefusal(status: number, body: string, retryAfterHeader?: string | null): HandshakeRefusal {
  let error: HandshakeRefusal['error'] = null;
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    const e = parsed?.error as Record<string, unknown> | undefined;
    if (typeof e === 'object' && e !== null && typeof e.code === 'string') {
      error = { ...e, code: e.code, message: typeof e.message === 'string' ? e.message : '' };
    }
  } catch {
    // not JSON (a proxy's page): keep the text
  }
  const header = retryAfterHeader != null && /^\s*\d+(\.\d+)?\s*$/.test(retryAfterHeader) ? Number(retryAfterHeader) : null;
  const fromBody = typeof error?.retry_after_s === 'number' && error.retry_after_s >= 0 ? error.retry_after_s : null;
  const seconds = header ?? fromBody;
  return { status, body, error, retryAfterMs: seconds === null ? null : Math.round(seconds * 1000) };
}
