import { Envelope, FatalError } from './backfill-envelope';
import { HttpDeps } from './backfill-http';
import { IngestTarget } from './backfill-target';

/** A fake service: `answer` decides the reply to each POSTed batch; every batch is recorded. */
function fakeService(answer: (batch: Envelope[], call: number) => Response | Error) {
  const batches: Envelope[][] = [];
  const headers: Array<Record<string, string>> = [];
  const fetchFn = ((_url: string, init?: RequestInit) => {
    const batch = JSON.parse(init?.body as string) as Envelope[];
    batches.push(batch);
    headers.push(init?.headers as Record<string, string>);
    const r = answer(batch, batches.length);
    return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
  }) as typeof fetch;
  const deps: HttpDeps = { fetch: fetchFn, sleep: () => Promise.resolve(), random: () => 0 };
  return { batches, headers, target: new IngestTarget('http://rt.test', 'secret-token', { retries: 2, timeoutMs: 1000 }, deps) };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const envs = (n: number): Envelope[] =>
  Array.from({ length: n }, (_, i): Envelope => ({ type: 'faqbot.update', data: { _id: `b${i}`, id_project: 'p1' } }));

describe('IngestTarget', () => {
  it('posts the batch with the service token and adds up the 202 counts', async () => {
    const s = fakeService((b) => json(202, { accepted: b.length - 1, duplicates: 1, stale: 0 }));
    const outcome = await s.target.send(envs(3));
    expect(outcome).toEqual({ sent: 3, accepted: 2, duplicates: 1, stale: 0, refused: new Map() });
    expect(s.headers[0]).toEqual({ authorization: 'Bearer secret-token', 'content-type': 'application/json' });
    expect(s.target.eventsUrl).toBe('http://rt.test/v1/events');
  });

  it('takes out an event the service refuses by index and sends the rest again', async () => {
    const s = fakeService((b) => {
      const bad = b.findIndex((e) => e.data._id === 'b1' || e.data._id === 'b3');
      if (bad >= 0)
        return json(400, {
          error: { code: 'bad_request', message: `event ${bad} (faqbot.update): data.x: nope`, index: bad, field: 'data.x' },
        });
      return json(202, { accepted: b.length, duplicates: 0, stale: 0 });
    });
    const outcome = await s.target.send(envs(5));
    expect(outcome.sent).toBe(3);
    expect(outcome.accepted).toBe(3);
    expect([...outcome.refused]).toEqual([
      [1, 'HTTP 400: data.x: nope'],
      [3, 'HTTP 400: data.x: nope'],
    ]);
    expect(s.batches.map((b) => b.map((e) => e.data._id))).toEqual([
      ['b0', 'b1', 'b2', 'b3', 'b4'],
      ['b0', 'b2', 'b3', 'b4'],
      ['b0', 'b2', 'b4'],
    ]);
  });

  it('sends a batch over the service limits in halves, and refuses a single event that is too large', async () => {
    const s = fakeService((b) => {
      if (b.length > 2)
        return json(413, {
          error: { code: 'payload_too_large', message: `batch of ${b.length} events is over INGEST_MAX_BATCH (2)`, index: 2, field: null },
        });
      const big = b.findIndex((e) => e.data._id === 'b4');
      if (big >= 0) {
        const message = `event ${big}: document of 9 bytes is over INGEST_MAX_EVENT_BYTES (1)`;
        return json(413, { error: { code: 'payload_too_large', message, index: big, field: 'data' } });
      }
      return json(202, { accepted: b.length, duplicates: 0, stale: 0 });
    });
    const outcome = await s.target.send(envs(5));
    expect(outcome.sent).toBe(4);
    expect([...outcome.refused.keys()]).toEqual([4]);
    expect(outcome.refused.get(4)).toContain('INGEST_MAX_EVENT_BYTES');
    expect(s.batches.map((b) => b.length)).toEqual([5, 3, 2, 1, 2, 1]);
  });

  it('retries 503 and network errors (a 503 batch was not applied whole)', async () => {
    const s = fakeService((b, call) =>
      call === 1
        ? json(503, { error: { code: 'unavailable', message: 'draining' } })
        : call === 2
          ? new TypeError('fetch failed')
          : json(202, { accepted: 0, duplicates: b.length, stale: 0 }),
    );
    expect(await s.target.send(envs(2))).toEqual({ sent: 2, accepted: 0, duplicates: 2, stale: 0, refused: new Map() });
    expect(s.batches).toHaveLength(3);
  });

  it('stops the run with a message naming the URL when the service cannot be reached, refuses the token or is not the service', async () => {
    const down = fakeService(() => {
      const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return new TypeError('fetch failed', { cause });
    });
    await expect(down.target.check()).rejects.toEqual(
      new FatalError('cannot reach the realtime service at http://rt.test/v1/events: connection refused (ECONNREFUSED) (after 3 attempts)'),
    );
    const busy = fakeService(() => json(503, { error: { code: 'unavailable', message: 'the engine (Redis) is unreachable' } }));
    await expect(busy.target.send(envs(1))).rejects.toThrow(
      'the realtime service at http://rt.test/v1/events still answered HTTP 503: the engine (Redis) is unreachable after 3 attempts',
    );
    const token = fakeService(() => json(401, { error: { code: 'unauthorized', message: 'missing or invalid service token' } }));
    await expect(token.target.check()).rejects.toThrow(
      /refused the ingest token \(HTTP 401: missing or invalid service token\): check --ingest-token/,
    );
    const other = fakeService(() => new Response('Cannot POST /v1/events', { status: 404 }));
    await expect(other.target.send(envs(1))).rejects.toThrow(
      'POST http://rt.test/v1/events answered HTTP 404: Cannot POST /v1/events: is --target the realtime service?',
    );
  });

  it('checks the service with an empty batch', async () => {
    const s = fakeService(() => json(202, { accepted: 0, duplicates: 0, stale: 0 }));
    await s.target.check();
    expect(s.batches).toEqual([[]]);
  });
});
