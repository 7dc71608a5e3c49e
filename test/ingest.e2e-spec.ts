import * as f from './helpers/factories';
import { INGEST_TOKEN, startTestApp, TestApp } from './helpers/test-app';

/** ingest.md §1 and §2.1: the event envelope, its rules, and POST /v1/events. */
describe('POST /v1/events', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp({ INGEST_MAX_BATCH: '5', INGEST_MAX_EVENT_BYTES: '2048', INGEST_MAX_BODY_BYTES: '20000' });
    await app.ingestOk({ type: 'project_user.create', data: f.projectUser('ip', 'owner', 'owner') });
  });
  afterEach(() => app.close());

  async function openRequests(): Promise<string[]> {
    const c = await app.connect('owner');
    const snap = await c.subscribe('/ip/requests');
    c.close();
    return snap.payload.message.map((r: any) => r.request_id);
  }

  it('answers 202 with accepted, duplicates and stale once applied and published', async () => {
    const r1 = f.request('ip', 'a', { status: 100 });
    const r = await app.ingest([
      { type: 'request.create', data: r1 },
      { type: 'request.update', data: { ...r1, status: 200, updatedAt: f.nextTime() } },
      { type: 'request.update', data: r1 },
      { type: 'request.update', data: { ...r1, status: 200, updatedAt: f.nextTime() }, id: 'evt-1' },
      { type: 'request.update', data: { ...r1, status: 300, updatedAt: f.nextTime() }, id: 'evt-1' },
    ]);
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 3, duplicates: 1, stale: 1 });
  });

  it('accepts a single envelope as well as an array', async () => {
    const r = await app.ingest({ type: 'request.create', data: f.request('ip', 'single', { status: 100 }) });
    expect(r).toEqual({ status: 202, body: { accepted: 1, duplicates: 0, stale: 0 } });
  });

  it.each([
    ['no Authorization header', undefined],
    ['a wrong token', 'nope'],
    ['a token that is a prefix of the right one', INGEST_TOKEN.slice(0, 5)],
  ])('answers 401 with a JSON body for %s', async (_what, token) => {
    const res = await fetch(`${app.httpUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ type: 'request.create', data: f.request('ip', 'x', { status: 100 }) }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(((await res.json()) as any).error.code).toBe('unauthorized');
    expect(await openRequests()).toEqual([]);
  });

  it('validates a batch whole: one bad event and nothing is applied; the error names the index and the field', async () => {
    const r = await app.ingest([
      { type: 'request.create', data: f.request('ip', 'ok1', { status: 100 }) },
      { type: 'request.create', data: { ...f.request('ip', 'bad', { status: 100 }), request_id: undefined } },
    ]);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'bad_request', index: 1, field: 'data.request_id' });
    expect(r.body.error.message).toMatch(/event 1/);
    expect(await openRequests()).toEqual([]);
  });

  it.each([
    ['an unknown type', { type: 'request.explode', data: {} }, 'type'],
    ['a missing type', { data: {} }, 'type'],
    ['a missing data', { type: 'request.create' }, 'data'],
    ['data that is not an object', { type: 'request.create', data: 'x' }, 'data'],
    ['a numeric _id', { type: 'request.create', data: { ...f.request('ip', 'n', {}), _id: 12 } }, 'data._id'],
    ['a missing id_project', { type: 'message.create', data: { ...f.message('ip', 'r'), id_project: undefined } }, 'data.id_project'],
    ['a missing recipient', { type: 'message.create', data: { ...f.message('ip', 'r'), recipient: undefined } }, 'data.recipient'],
    ['a status that is not a number', { type: 'request.update', data: f.request('ip', 's', { status: 'open' }) }, 'data.status'],
    [
      'participants that are not strings',
      { type: 'request.update', data: f.request('ip', 's', { participants: [1] }) },
      'data.participants.0',
    ],
    ['a bad updatedAt', { type: 'request.update', data: f.request('ip', 's', { updatedAt: 'yesterday' }) }, 'data.updatedAt'],
    [
      'a project_user without role',
      { type: 'project_user.update', data: { ...f.projectUser('ip', 'u', 'agent'), role: undefined } },
      'data.role',
    ],
    ['a delete without request id', { type: 'request.delete', data: { id_project: 'ip' } }, 'data.request_id'],
    [
      'an event without project_user',
      { type: 'event.emit', data: { ...f.event('ip', 'pu', 'n'), project_user: undefined } },
      'data.project_user',
    ],
    ['a non-string envelope id', { type: 'request.create', data: f.request('ip', 'i', {}), id: 5 }, 'id'],
  ])('answers 400 for %s', async (_what, envelope, field) => {
    const r = await app.ingest([envelope]);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'bad_request', index: 0, field });
  });

  it('answers 400 for a body that is not JSON, or not an object or array', async () => {
    expect((await app.ingest('{not json')).body.error.code).toBe('bad_request');
    expect((await app.ingest('"text"')).status).toBe(400);
    expect((await app.ingest('42')).status).toBe(400);
  });

  it('answers 413 for a document over INGEST_MAX_EVENT_BYTES, a batch over INGEST_MAX_BATCH and a body over the body limit', async () => {
    const big = await app.ingest([{ type: 'request.create', data: f.request('ip', 'big', { first_text: 'x'.repeat(3000) }) }]);
    expect(big.status).toBe(413);
    expect(big.body.error).toMatchObject({ code: 'payload_too_large', index: 0 });
    const many = await app.ingest(Array.from({ length: 6 }, (_, i) => ({ type: 'request.create', data: f.request('ip', `m${i}`, {}) })));
    expect(many.status).toBe(413);
    expect(many.body.error.code).toBe('payload_too_large');
    const huge = await app.ingest(JSON.stringify({ type: 'request.create', data: f.request('ip', 'h', { pad: 'y'.repeat(30000) }) }));
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('payload_too_large');
    expect(await openRequests()).toEqual([]);
  });

  it('keeps unknown extra fields untouched', async () => {
    await app.ingestOk({
      type: 'request.create',
      data: f.request('ip', 'extra', { status: 100, custom: { nested: [1, 2] }, priority: 'high' }),
    });
    const c = await app.connect('owner');
    const [r] = (await c.subscribe('/ip/requests')).payload.message;
    expect(r).toMatchObject({ custom: { nested: [1, 2] }, priority: 'high' });
  });

  it('ignores a stale update (older updatedAt, or same updatedAt and lower __v) and publishes nothing', async () => {
    const c = await app.connect('owner');
    const v1 = f.request('ip', 'st', { status: 100, __v: 1 });
    await app.ingestOk({ type: 'request.create', data: v1 });
    await c.subscribe('/ip/requests/st');
    const older = { ...v1, status: 200, updatedAt: new Date(Date.parse(v1.updatedAt) - 5000).toISOString() };
    const lowerV = { ...v1, status: 300, __v: 0 };
    expect(
      (
        await app.ingestOk([
          { type: 'request.update', data: older },
          { type: 'request.update', data: lowerV },
        ])
      ).stale,
    ).toBe(2);
    const higherV = { ...v1, status: 300, __v: 2 };
    expect((await app.ingestOk({ type: 'request.update', data: higherV })).accepted).toBe(1);
    await c.sync();
    expect(c.topicFrames('/ip/requests/st').map((fr) => fr.payload.message.status)).toEqual([100, 300]);
  });

  it('counts an identical re-send as a duplicate and publishes nothing', async () => {
    const c = await app.connect('owner');
    await c.subscribe('/ip/requests');
    const doc = f.request('ip', 'dup', { status: 100 });
    await app.ingestOk({ type: 'request.create', data: doc });
    expect(await app.ingestOk({ type: 'request.create', data: doc })).toEqual({ accepted: 0, duplicates: 1, stale: 0 });
    await c.sync();
    expect(c.topicFrames('/ip/requests').slice(1)).toHaveLength(1);
  });

  it('removes a request with its messages on request.delete (by _id or request_id)', async () => {
    await app.ingestOk([
      { type: 'request.create', data: f.request('ip', 'gone', { status: 100 }) },
      { type: 'message.create', data: f.message('ip', 'gone') },
    ]);
    expect(await openRequests()).toEqual(['gone']);
    await app.ingestOk({ type: 'request.delete', data: { _id: 'oid-gone', id_project: 'ip' } });
    expect(await openRequests()).toEqual([]);
    const c = await app.connect('owner');
    expect((await c.subscribe('/ip/requests/gone/messages')).payload.code).toBe('not_found');
    // re-created (dated after the delete, or its tombstone would keep it out): no message survived the delete
    await app.ingestOk({
      type: 'request.create',
      data: f.request('ip', 'gone', { status: 100, updatedAt: new Date(Date.now() + 1000).toISOString() }),
    });
    expect((await c.subscribe('/ip/requests/gone/messages')).payload.message).toEqual([]);
  });

  it('accepts the Tiledesk routing keys as type aliases', async () => {
    const r = await app.ingestOk([
      { type: 'request_create', data: f.request('ip', 'al', { status: 100 }) },
      { type: 'request_update', data: f.request('ip', 'al', { status: 200 }) },
      { type: 'message_create', data: f.message('ip', 'al') },
      { type: 'project_user_update', data: { updatedProject_userPopulated: f.projectUser('ip', 'ag', 'agent'), req: { user: {} } } },
      { type: 'faqbot_update', data: f.bot('ip', 'b') },
    ]);
    expect(r).toEqual({ accepted: 5, duplicates: 0, stale: 0 });
  });

  it('keeps closed requests readable on T2 until CLOSED_REQUEST_TTL_S', async () => {
    await app.ingestOk({ type: 'request.create', data: f.request('ip', 'cl', { status: 1000 }) });
    const c = await app.connect('owner');
    expect((await c.subscribe('/ip/requests/cl')).payload.message.status).toBe(1000);
    expect(await openRequests()).toEqual([]);
  });

  it('answers 404 with a JSON body for an unknown route and /healthz with 200', async () => {
    const nf = await fetch(`${app.httpUrl}/v1/nothing`);
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as any).error.code).toBe('not_found');
    const h = await fetch(`${app.httpUrl}/healthz`);
    expect(h.status).toBe(200);
  });
});

describe('HTTP ingest without INGEST_TOKEN', () => {
  it('is disabled: every request answers 401', async () => {
    const app = await startTestApp({ INGEST_TOKEN: '' });
    try {
      const r = await app.ingest({ type: 'request.create', data: f.request('ip', 'x', {}) }, 'anything');
      expect(r.status).toBe(401);
      expect(r.body.error.message).toMatch(/INGEST_TOKEN/);
    } finally {
      await app.close();
    }
  });
});
