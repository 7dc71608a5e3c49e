import { backoffDelayMs, ReconnectPolicy, reconnectPolicy } from '../../client/reconnect-backoff';

/**
 * HTTP with retries for the backfill, used for both ends (the Tiledesk REST API it reads and the service's
 * ingest it writes): 429, 408 and 5xx answers and network errors are retried with exponential back-off and
 * full jitter, a Retry-After header (seconds or an HTTP date) or the service's `error.retry_after_s` wins
 * over the back-off. Any other answer goes back to the caller, which knows what a 400 or 404 means there.
 * `fetch`, `sleep` and `random` are injected so the policy is unit-tested without a network or a clock.
 */

export interface RetryOptions {
  /** Retries after the first attempt (0: one attempt only). */
  retries: number;
  /** Per attempt: abandoned after this long and counted as a network error. */
  timeoutMs: number;
  /** Back-off of the first retry's cap (doubling up to maxDelayMs). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** A Retry-After longer than this is cut to it (a misconfigured server must not park the run for a day). */
  maxRetryAfterMs?: number;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** Attempts made (1 when the first one answered). */
  attempts: number;
}

/** What a retry is about to wait for, for progress output. */
export interface RetryNotice {
  url: string;
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface HttpDeps {
  fetch: typeof fetch;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  onRetry?: (notice: RetryNotice) => void;
}

/** The URL could not be reached (or kept failing with a retryable status) after every retry. */
export class HttpUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
    readonly attempts: number,
    /** The last status when the server answered (429/5xx), undefined for network errors. */
    readonly status?: number,
  ) {
    super(`${url}: ${reason} (${attempts} attempt${attempts === 1 ? '' : 's'})`);
    this.name = 'HttpUnreachableError';
  }
}

/** The run was stopped (a fatal error elsewhere): nothing more is fetched. */
export class AbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortedError';
  }
}

export const DEFAULT_RETRY: Required<RetryOptions> = {
  retries: 6,
  timeoutMs: 30_000,
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 300_000,
};

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * The wait a server asked for, in ms: the Retry-After header (delta-seconds or an HTTP date), else the
 * service's `{"error": {"retry_after_s": n}}`; undefined when neither says.
 */
export function retryAfterMs(headerValue: string | null, body: unknown, now: number): number | undefined {
  if (headerValue !== null && headerValue.trim() !== '') {
    const v = headerValue.trim();
    if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
    const at = Date.parse(v);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const fromBody = (body as { error?: { retry_after_s?: unknown } } | null | undefined)?.error?.retry_after_s;
  if (typeof fromBody === 'number' && Number.isFinite(fromBody) && fromBody >= 0) return Math.round(fromBody * 1000);
  return undefined;
}

/** The delay before retry `attempt` (1-based): the server's wish when it said one, else the jittered back-off. */
export function retryDelayMs(
  attempt: number,
  serverWishMs: number | undefined,
  policy: ReconnectPolicy,
  maxRetryAfterMs: number,
  random: () => number,
): number {
  if (serverWishMs !== undefined) return Math.min(serverWishMs, maxRetryAfterMs);
  return backoffDelayMs(attempt, policy, random);
}

/** A one-line reason for a failed fetch: the system error code and address when Node gives them. */
export function describeNetworkError(err: unknown): string {
  // DOMException (the timeout signal's reason) is not an Error in every realm: go by its name.
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'no answer in time';
  const cause = (err as { cause?: unknown } | null)?.cause;
  const inner = cause instanceof Error ? cause : err instanceof Error ? err : null;
  if (!inner) return String(err);
  const code = (inner as { code?: unknown }).code;
  if (typeof code === 'string') {
    const known: Record<string, string> = {
      ECONNREFUSED: 'connection refused',
      ECONNRESET: 'connection reset',
      ENOTFOUND: 'host not found',
      EAI_AGAIN: 'host name lookup failed',
      ETIMEDOUT: 'connection timed out',
      EHOSTUNREACH: 'host unreachable',
      ENETUNREACH: 'network unreachable',
      UND_ERR_SOCKET: 'connection closed',
      UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
    };
    return `${known[code] ?? inner.message} (${code})`;
  }
  // AggregateError (several addresses tried): the first one's reason.
  const first = (inner as { errors?: unknown[] }).errors?.[0];
  if (first !== undefined) return describeNetworkError(first);
  return inner.message;
}

/**
 * Sends a request, retrying what is worth retrying. Resolves with the first answer that is not retryable
 * (2xx, or a 4xx other than 408/429); rejects with HttpUnreachableError when the retries run out, and with
 * AbortedError when `signal` aborts.
 */
export async function requestWithRetry(req: HttpRequest, options: RetryOptions, deps: HttpDeps, signal?: AbortSignal): Promise<HttpAnswer> {
  const o = { ...DEFAULT_RETRY, ...definedOnly(options) };
  const policy = reconnectPolicy({ initialDelayMs: o.initialDelayMs, maxDelayMs: o.maxDelayMs });
  const attempts = o.retries + 1;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new AbortedError();
    let reason: string;
    let wish: number | undefined;
    let status: number | undefined;
    try {
      const timeout = AbortSignal.timeout(o.timeoutMs);
      const res = await deps.fetch(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      const text = await res.text();
      const json = parseJson(text);
      if (!isRetryableStatus(res.status)) return { status: res.status, headers: res.headers, text, json, attempts: attempt };
      status = res.status;
      reason = `HTTP ${res.status}${summarizeBody(json, text)}`;
      wish = retryAfterMs(res.headers.get('retry-after'), json, Date.now());
    } catch (err) {
      if (signal?.aborted) throw new AbortedError();
      reason = describeNetworkError(err);
    }
    if (attempt >= attempts) throw new HttpUnreachableError(req.url, reason, attempt, status);
    const delayMs = retryDelayMs(attempt, wish, policy, o.maxRetryAfterMs, deps.random);
    deps.onRetry?.({ url: req.url, attempt, delayMs, reason });
    await deps.sleep(delayMs, signal);
  }
}

/** The real clock: a timer that an abort cuts short. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs at most `limit` tasks at a time, the others queued in order of arrival; stops starting them after abort(). */
export class Limiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  private aborted = false;

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`limit must be >= 1 (got ${limit})`);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    // A queued task is handed the slot of the one that finishes (release() does not decrement then).
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active++;
    if (this.aborted) {
      this.release();
      throw new AbortedError();
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  abort(): void {
    this.aborted = true;
    // Wake the queued tasks so that they fail now instead of waiting for slots.
    while (this.queue.length > 0) {
      this.active++;
      this.queue.shift()!();
    }
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active--;
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** `: <the error's message>` from a JSON error body (the service's or Tiledesk's), cut short. */
export function summarizeBody(json: unknown, text: string): string {
  const e = (json as { error?: { message?: unknown } } | null | undefined)?.error;
  const msg =
    typeof e?.message === 'string'
      ? e.message
      : typeof (json as { msg?: unknown } | null | undefined)?.msg === 'string'
        ? (json as { msg: string }).msg
        : json === undefined
          ? text.trim()
          : '';
  if (msg === '') return '';
  return `: ${msg.length > 200 ? `${msg.slice(0, 200)}…` : msg}`;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
