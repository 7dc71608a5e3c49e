import {
  AbortedError,
  describeNetworkError,
  HttpDeps,
  HttpUnreachableError,
  isRetryableStatus,
  Limiter,
  requestWithRetry,
  retryAfterMs,
  retryDelayMs,
} from './backfill-http';
import { reconnectPolicy } from '../../client/reconnect-backoff';

/** A fetch that answers from a script: a Response, or an Error to throw (a network failure). */
function scriptedFetch(script: Array<Response | Error>) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fn = (url: string, init?: RequestInit): Promise<Response> => {
    calls.push({ url, init: init ?? {} });
    const next = script.shift();
    if (!next) throw new Error('no more scripted answers');
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  };
  return { fetch: fn as unknown as typeof fetch, calls };
}

function refused(): Error {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  return new TypeError('fetch failed', { cause });
}

function deps(fetchFn: typeof fetch, slept: number[]): HttpDeps {
  return { fetch: fetchFn, sleep: (ms) => (slept.push(ms), Promise.resolve()), random: () => 1 };
}

const GET = { method: 'GET' as const, url: 'http://api.test/projects/', headers: {} };

describe('retryAfterMs', () => {
  it('reads Retry-After as seconds or as an HTTP date, else the service body, else nothing', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('3', undefined, now)).toBe(3000);
    expect(retryAfterMs('0.5', undefined, now)).toBe(500);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:07 GMT', undefined, now)).toBe(7000);
    expect(retryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', undefined, now)).toBe(0);
    expect(retryAfterMs(null, { error: { code: 'rate_limited', retry_after_s: 2 } }, now)).toBe(2000);
    expect(retryAfterMs('soon', { error: {} }, now)).toBeUndefined();
    expect(retryAfterMs(null, undefined, now)).toBeUndefined();
  });
});

describe('retryDelayMs', () => {
  const policy = reconnectPolicy({ initialDelayMs: 500, maxDelayMs: 30_000 });
  it('waits what the server asked (capped), else a jittered exponential back-off', () => {
    expect(retryDelayMs(1, 4000, policy, 300_000, () => 0)).toBe(4000);
    expect(retryDelayMs(1, 900_000, policy, 300_000, () => 0)).toBe(300_000);
    expect(retryDelayMs(1, undefined, policy, 300_000, () => 1)).toBe(500);
    expect(retryDelayMs(3, undefined, policy, 300_000, () => 1)).toBe(2000);
    expect(retryDelayMs(3, undefined, policy, 300_000, () => 0.5)).toBe(1000);
    expect(retryDelayMs(20, undefined, policy, 300_000, () => 1)).toBe(30_000);
  });

  it('retries 408, 429 and 5xx only', () => {
    expect([200, 202, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503].filter(isRetryableStatus)).toEqual([408, 429, 500, 502, 503]);
  });
});

describe('describeNetworkError', () => {
  it('names the system error', () => {
    expect(describeNetworkError(refused())).toBe('connection refused (ECONNREFUSED)');
    const dns = new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }) });
    expect(describeNetworkError(dns)).toBe('host not found (ENOTFOUND)');
    expect(describeNetworkError(new DOMException('timed out', 'TimeoutError'))).toBe('no answer in time');
  });
});

describe('requestWithRetry', () => {
  it('answers at once what is not retryable', async () => {
    const slept: number[] = [];
    const f = scriptedFetch([new Response('{"ok":1}', { status: 200 })]);
    const a = await requestWithRetry(GET, { retries: 3, timeoutMs: 1000 }, deps(f.fetch, slept));
    expect([a.status, a.json, a.attempts, slept]).toEqual([200, { ok: 1 }, 1, []]);
    const g = scriptedFetch([new Response('nope', { status: 404 })]);
    const b = await requestWithRetry(GET, { retries: 3, timeoutMs: 1000 }, deps(g.fetch, slept));
    expect([b.status, b.text, b.json]).toEqual([404, 'nope', undefined]);
  });

  it('honours Retry-After on 429, backs off on 503 and network errors, then answers', async () => {
    const slept: number[] = [];
    const notices: string[] = [];
    const f = scriptedFetch([
      new Response('', { status: 429, headers: { 'retry-after': '2' } }),
      new Response('{"error":{"code":"unavailable","message":"draining"}}', { status: 503 }),
      refused(),
      new Response('[]', { status: 200 }),
    ]);
    const d = { ...deps(f.fetch, slept), onRetry: (n: { reason: string; delayMs: number }) => notices.push(`${n.reason} ${n.delayMs}`) };
    const a = await requestWithRetry(GET, { retries: 3, timeoutMs: 1000, initialDelayMs: 100 }, d);
    expect(a.status).toBe(200);
    expect(a.attempts).toBe(4);
    expect(slept).toEqual([2000, 200, 400]);
    expect(notices).toEqual(['HTTP 429 2000', 'HTTP 503: draining 200', 'connection refused (ECONNREFUSED) 400']);
    expect(f.calls.every((c) => c.url === GET.url && c.init.method === 'GET')).toBe(true);
  });

  it('gives up after the retries with the URL, the reason and the last status', async () => {
    const f = scriptedFetch([refused(), refused()]);
    await expect(requestWithRetry(GET, { retries: 1, timeoutMs: 1000 }, deps(f.fetch, []))).rejects.toEqual(
      new HttpUnreachableError(GET.url, 'connection refused (ECONNREFUSED)', 2),
    );
    const g = scriptedFetch([new Response('', { status: 502 })]);
    const err = await requestWithRetry(GET, { retries: 0, timeoutMs: 1000 }, deps(g.fetch, [])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpUnreachableError);
    expect((err as HttpUnreachableError).status).toBe(502);
    expect((err as HttpUnreachableError).message).toBe(`${GET.url}: HTTP 502 (1 attempt)`);
  });

  it('stops when aborted', async () => {
    const stop = new AbortController();
    stop.abort();
    const f = scriptedFetch([new Response('[]')]);
    await expect(requestWithRetry(GET, { retries: 3, timeoutMs: 1000 }, deps(f.fetch, []), stop.signal)).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(f.calls).toHaveLength(0);
  });

  it('counts an attempt that takes longer than the timeout as a network error', async () => {
    const hanging = ((_url: string, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal!.reason as Error));
      })) as typeof fetch;
    await expect(requestWithRetry(GET, { retries: 0, timeoutMs: 20 }, deps(hanging, []))).rejects.toThrow(
      `${GET.url}: no answer in time (1 attempt)`,
    );
  });
});

describe('Limiter', () => {
  it('runs at most `limit` tasks at once, in order of arrival', async () => {
    const limiter = new Limiter(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const gates: Array<() => void> = [];
    const tasks = [0, 1, 2, 3, 4].map((i) =>
      limiter.run(async () => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => gates.push(r));
        running--;
        return i;
      }),
    );
    for (let released = 0; released < 5; released++) {
      await new Promise((r) => setImmediate(r));
      gates.shift()!();
    }
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
  });

  it('fails the queued tasks after abort() and frees their slots', async () => {
    const limiter = new Limiter(1);
    let release!: () => void;
    const first = limiter.run(() => new Promise<string>((r) => (release = () => r('first'))));
    const queued = limiter.run(() => Promise.resolve('queued'));
    limiter.abort();
    await expect(queued).rejects.toBeInstanceOf(AbortedError);
    release();
    await expect(first).resolves.toBe('first');
    await expect(limiter.run(() => Promise.resolve('later'))).rejects.toBeInstanceOf(AbortedError);
  });
});
