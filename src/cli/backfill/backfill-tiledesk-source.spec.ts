import { FatalError, SourceItem } from './backfill-envelope';
import { HttpDeps } from './backfill-http';
import { TiledeskApi, tiledeskItems } from './backfill-tiledesk-source';

const BASE = 'http://td.test/api';
type Route = (url: URL, call: number) => Response | Error;

/** A fake Tiledesk answering by path (query in `url`); records every URL and auth header. */
function fakeApi(routes: Record<string, Route>, concurrency = 4) {
  const calls: Array<{ url: string; auth: string }> = [];
  const counts = new Map<string, number>();
  let inFlight = 0;
  let peak = 0;
  const fetchFn = (async (input: string, init?: RequestInit) => {
    const url = new URL(input);
    calls.push({ url: url.pathname + url.search, auth: (init?.headers as Record<string, string>).authorization! });
    const path = url.pathname.slice('/api'.length);
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    const route = routes[path];
    const r = route ? route(url, n) : new Response('Not found', { status: 404 });
    if (r instanceof Error) throw r;
    return r;
  }) as typeof fetch;
  const deps: HttpDeps = { fetch: fetchFn, sleep: () => Promise.resolve(), random: () => 0 };
  const api = new TiledeskApi(BASE, 'the.jwt', concurrency, { retries: 1, timeoutMs: 1000 }, deps);
  return { api, calls, peak: () => peak };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const proj = (id: string, status = 100) => ({ _id: id, name: id, status, updatedAt: '2026-01-01T00:00:00.000Z' });
const pu = (p: string, u: string) => ({
  _id: `pu-${p}-${u}`,
  id_project: p,
  id_user: { _id: u, firstname: u },
  role: 'agent',
  status: 'active',
});
const req = (p: string, n: number) => ({
  _id: `r${n}`,
  request_id: `support-group-${p}-${n}`,
  id_project: p,
  status: 200,
  updatedAt: '2026-01-01T00:00:00.000Z',
});
const msg = (p: string, n: number, i: number) => ({
  _id: `m${n}-${i}`,
  id_project: p,
  recipient: `support-group-${p}-${n}`,
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
});

/** Requests pages as Tiledesk answers them: `page` from 0, `limit` per page. */
function pages(all: () => Array<Record<string, unknown>>): Route {
  return (url) => {
    const limit = Number(url.searchParams.get('limit'));
    const page = Number(url.searchParams.get('page'));
    const list = all();
    return json({ perPage: limit, count: list.length, requests: list.slice(page * limit, (page + 1) * limit) });
  };
}

async function collect(gen: AsyncGenerator<SourceItem>): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for await (const i of gen) out.push(i);
  return out;
}

const label = (i: SourceItem) => (i.ok ? `${i.type} ${String(i.envelope.data._id)}` : `! ${i.problem}`);

describe('tiledeskItems', () => {
  it('reads every project first, then per project its members, open requests, their newest messages and its bots', async () => {
    const requests = Array.from({ length: 150 }, (_, i) => req('p1', i));
    const f = fakeApi({
      '/projects/': () =>
        json([
          { _id: 'm1', id_project: proj('p1') },
          { _id: 'm2', id_project: proj('p2', 0) },
        ]),
      '/p1/project_users/': () => json([pu('p1', 'u1'), pu('p1', 'u2')]),
      '/p1/requests': pages(() => requests),
      '/p1/faq_kb': () => json([{ _id: 'b1', id_project: 'p1', name: 'Bot' }]),
      ...Object.fromEntries(
        requests.map((_, n) => [`/p1/requests/support-group-p1-${n}/messages`, () => json([0, 1, 2].map((i) => msg('p1', n, i)))]),
      ),
    });
    const items = await collect(tiledeskItems(f.api, { messages: 2 }));
    const labels = items.map(label);
    expect(labels.slice(0, 4)).toEqual([
      'project.update p1',
      'project.update p2',
      'project_user.update pu-p1-u1',
      'project_user.update pu-p1-u2',
    ]);
    expect(labels.slice(4, 154)).toEqual(requests.map((r) => `request.update ${r._id}`));
    expect(labels.slice(154, 156)).toEqual(['message.create m0-1', 'message.create m0-2']);
    expect(labels).toHaveLength(4 + 150 + 300 + 1);
    expect(labels.at(-1)).toBe('faqbot.update b1');
    // The disabled project p2 is only announced; Tiledesk's JWT scheme on every read; at most 4 in flight.
    expect(f.calls.some((c) => c.url.startsWith('/api/p2/'))).toBe(false);
    expect(new Set(f.calls.map((c) => c.auth))).toEqual(new Set(['JWT the.jwt']));
    expect(f.calls.filter((c) => c.url.startsWith('/api/p1/requests?')).map((c) => new URL(c.url, BASE).searchParams.get('page'))).toEqual([
      '0',
      '1',
    ]);
    expect(f.peak()).toBeLessThanOrEqual(4);
    expect(f.peak()).toBeGreaterThan(1);
  });

  it('reads the pages again when the count moved meanwhile, yielding each request once', async () => {
    let open = Array.from({ length: 5 }, (_, i) => req('p1', i));
    let reads = 0;
    const f = fakeApi({
      '/projects/': () => json([{ _id: 'm1', id_project: proj('p1') }]),
      '/p1/project_users/': () => json([]),
      '/p1/faq_kb': () => json([]),
      '/p1/requests': (url) => {
        // r1 is closed after the first page was read: r2 moves onto page 0 and the pass misses it.
        if (++reads === 2) open = open.filter((r) => r._id !== 'r1');
        return pages(() => open)(url, reads);
      },
    });
    // Pages of 2 make the shift visible; Tiledesk's are 100.
    const items = await collect(tiledeskItems(f.api, { messages: 0, pageLimit: 2 }));
    expect(items.map(label)).toEqual([
      'project.update p1',
      'request.update r0',
      'request.update r1',
      'request.update r3',
      'request.update r4',
      'request.update r2',
    ]);
  });

  it('reads messages only a window ahead of sending them', async () => {
    const requests = Array.from({ length: 30 }, (_, i) => req('p1', i));
    const f = fakeApi({
      '/projects/': () => json([{ _id: 'm1', id_project: proj('p1') }]),
      '/p1/project_users/': () => json([]),
      '/p1/requests': pages(() => requests),
      '/p1/faq_kb': () => json([]),
      ...Object.fromEntries(requests.map((_, n) => [`/p1/requests/support-group-p1-${n}/messages`, () => json([msg('p1', n, 0)])])),
    });
    const messageCalls = () => f.calls.filter((c) => c.url.endsWith('/messages')).length;
    const seen: Array<[string, number]> = [];
    for await (const item of tiledeskItems(f.api, { messages: 10, readAhead: 3 })) {
      // Let every read that was started answer before looking.
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      seen.push([item.type, messageCalls()]);
    }
    const lastRequest = seen.filter(([t]) => t === 'request.update').at(-1)!;
    const firstMessage = seen.find(([t]) => t === 'message.create')!;
    expect(lastRequest[1]).toBe(3);
    expect(firstMessage[1]).toBe(4);
    expect(seen.filter(([t]) => t === 'message.create')).toHaveLength(30);
  });

  it('reports a read that fails for good and goes on with the rest', async () => {
    const f = fakeApi({
      '/projects/': () => json([{ _id: 'm1', id_project: proj('p1') }]),
      '/p1/project_users/': () => json({ success: false, msg: 'you are not allowed' }, 403),
      '/p1/requests': pages(() => [req('p1', 0)]),
      '/p1/requests/support-group-p1-0/messages': () => json({ success: false, msg: 'Error getting object.' }, 500),
      '/p1/faq_kb': () => new Response('<html>', { status: 200 }),
    });
    const items = await collect(tiledeskItems(f.api, { messages: 300 }));
    expect(items.map(label)).toEqual([
      'project.update p1',
      `! GET ${BASE}/p1/project_users/: HTTP 403: you are not allowed`,
      'request.update r0',
      `! GET ${BASE}/p1/requests/support-group-p1-0/messages: HTTP 500: Error getting object., still after 2 attempts`,
      `! ${BASE}/p1/faq_kb: expected JSON in the answer; is this the Tiledesk API?`,
    ]);
    expect(items.filter((i) => !i.ok).every((i) => !i.ok && i.readFailure)).toBe(true);
  });

  it('stops at once when the token is refused or the API cannot be reached', async () => {
    const refused = fakeApi({ '/projects/': () => new Response('Unauthorized', { status: 401 }) });
    await expect(collect(tiledeskItems(refused.api, { messages: 1 }))).rejects.toThrow(
      new FatalError(`the Tiledesk API refused the token (HTTP 401) at GET ${BASE}/projects/: give a valid user JWT with --token`),
    );
    const down = fakeApi({
      '/projects/': () => json([{ _id: 'm1', id_project: proj('p1') }]),
      '/p1/project_users/': () =>
        Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }),
      '/p1/requests': pages(() => [req('p1', 0)]),
      '/p1/faq_kb': () => json([]),
    });
    await expect(collect(tiledeskItems(down.api, { messages: 1 }))).rejects.toThrow(
      `cannot reach the Tiledesk API at ${BASE}/p1/project_users/: connection reset (ECONNRESET) (after 2 attempts)`,
    );
    const other = fakeApi({ '/projects/': () => json({ not: 'a list' }) });
    await expect(collect(tiledeskItems(other.api, { messages: 1 }))).rejects.toThrow(
      `${BASE}/projects/: expected an array of project_users`,
    );
  });
});
