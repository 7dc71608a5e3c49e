import { ERROR_CODES, PING_FRAME, PONG_FRAME, errorFrame, meFrame, parseClientFrame, publishFrame } from './frames';

const text = (v: unknown) => parseClientFrame(JSON.stringify(v), false);

describe('parseClientFrame (protocol.md §2.1)', () => {
  it('parses subscribe and unsubscribe with their topic', () => {
    expect(text({ action: 'subscribe', payload: { topic: '/p1/requests' } })).toEqual({
      ok: true,
      frame: { action: 'subscribe', topic: '/p1/requests' },
    });
    expect(text({ action: 'unsubscribe', payload: { topic: '/p1/requests/r1' } })).toEqual({
      ok: true,
      frame: { action: 'unsubscribe', topic: '/p1/requests/r1' },
    });
  });

  it('ignores the extra payload fields the dashboard sends with subscribe', () => {
    expect(text({ action: 'subscribe', payload: { topic: '/p1/requests', message: null, method: 'CREATE', extra: 1 } })).toEqual({
      ok: true,
      frame: { action: 'subscribe', topic: '/p1/requests' },
    });
  });

  it('accepts a Buffer holding UTF-8 JSON text', () => {
    const buf = Buffer.from(JSON.stringify({ action: 'subscribe', payload: { topic: '/p1/requests/é' } }), 'utf8');
    expect(parseClientFrame(buf, false)).toEqual({ ok: true, frame: { action: 'subscribe', topic: '/p1/requests/é' } });
  });

  it('parses heartbeat ping and pong, and a heartbeat without a text', () => {
    expect(text({ action: 'heartbeat', payload: { message: { text: 'ping' } } })).toEqual({
      ok: true,
      frame: { action: 'heartbeat', text: 'ping' },
    });
    expect(text({ action: 'heartbeat', payload: { message: { text: 'pong' } } })).toEqual({
      ok: true,
      frame: { action: 'heartbeat', text: 'pong' },
    });
    expect(text({ action: 'heartbeat' })).toEqual({ ok: true, frame: { action: 'heartbeat', text: undefined } });
  });

  it('parses me with or without a payload', () => {
    expect(text({ action: 'me' })).toEqual({ ok: true, frame: { action: 'me' } });
    expect(text({ action: 'me', payload: {} })).toEqual({ ok: true, frame: { action: 'me' } });
    expect(text({ action: 'me', payload: null })).toEqual({ ok: true, frame: { action: 'me' } });
  });

  it('parses publish and broadcast (so that they can be refused with the topic named)', () => {
    expect(text({ action: 'publish', payload: { topic: '/p2/requests', message: { x: 1 } } })).toEqual({
      ok: true,
      frame: { action: 'publish', topic: '/p2/requests' },
    });
    expect(text({ action: 'broadcast', payload: { topic: '/p2/requests' } })).toEqual({
      ok: true,
      frame: { action: 'broadcast', topic: '/p2/requests' },
    });
    expect(text({ action: 'publish', payload: { message: 'no topic' } })).toEqual({ ok: true, frame: { action: 'publish', topic: null } });
  });

  it.each([
    ['non-JSON text', 'hello'],
    ['truncated JSON', '{"action":"subscribe"'],
    ['a JSON array', '[{"action":"me"}]'],
    ['a JSON number', '42'],
    ['a JSON string', '"subscribe"'],
    ['JSON null', 'null'],
    ['an empty object (no action)', '{}'],
    ['action not a string', '{"action":1,"payload":{}}'],
    ['action null', '{"action":null}'],
    ['payload a string', '{"action":"subscribe","payload":"/p1/requests"}'],
    ['payload an array', '{"action":"subscribe","payload":["/p1/requests"]}'],
    ['payload a number', '{"action":"me","payload":3}'],
    ['subscribe without payload', '{"action":"subscribe"}'],
    ['subscribe without topic', '{"action":"subscribe","payload":{}}'],
    ['subscribe with a numeric topic', '{"action":"subscribe","payload":{"topic":12}}'],
    ['subscribe with a null topic', '{"action":"subscribe","payload":{"topic":null}}'],
    ['unsubscribe without topic', '{"action":"unsubscribe","payload":{}}'],
    ['unsubscribe with an object topic', '{"action":"unsubscribe","payload":{"topic":{}}}'],
    ['an unknown action', '{"action":"subscribeAll","payload":{"topic":"/p1/requests"}}'],
    ['an action in the wrong case', '{"action":"SUBSCRIBE","payload":{"topic":"/p1/requests"}}'],
  ])('refuses %s with bad_request', (_what, raw) => {
    const r = parseClientFrame(raw, false);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe('bad_request');
      expect(r.message).toEqual(expect.any(String));
      expect(r.message.length).toBeGreaterThan(0);
    }
  });

  it('refuses binary frames with bad_request even when they hold valid JSON', () => {
    const r = parseClientFrame(Buffer.from('{"action":"me"}'), true);
    expect(r).toMatchObject({ ok: false, code: 'bad_request', topic: null });
  });

  it('does not echo a huge unknown action back in full', () => {
    const r = parseClientFrame(JSON.stringify({ action: 'x'.repeat(10_000) }), false);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message.length).toBeLessThan(200);
  });
});

describe('server frames (protocol.md §2.2)', () => {
  const all = [
    publishFrame('/p1/requests', 'CREATE', []),
    publishFrame('/p1/bots/b1', 'UPDATE', null),
    errorFrame('/p1/requests', 'forbidden', 'nope'),
    errorFrame(null, 'bad_request', 'bad'),
    meFrame('conn-1', 'u1'),
    PING_FRAME,
    PONG_FRAME,
  ];

  it('publishFrame carries topic, method and message in the payload', () => {
    expect(JSON.parse(publishFrame('/p1/requests', 'CREATE', [{ _id: 'a' }]))).toEqual({
      action: 'publish',
      payload: { topic: '/p1/requests', method: 'CREATE', message: [{ _id: 'a' }] },
    });
    expect(JSON.parse(publishFrame('/p1/requests/r1', 'DELETE', { _id: 'o', id: 'o', request_id: 'r1' }))).toEqual({
      action: 'publish',
      payload: { topic: '/p1/requests/r1', method: 'DELETE', message: { _id: 'o', id: 'o', request_id: 'r1' } },
    });
  });

  it('publishFrame keeps a null message (T7 snapshot of an unknown bot)', () => {
    expect(JSON.parse(publishFrame('/p1/bots/b1', 'CREATE', null))).toEqual({
      action: 'publish',
      payload: { topic: '/p1/bots/b1', method: 'CREATE', message: null },
    });
  });

  it('errorFrame carries topic (or null), code and message', () => {
    expect(JSON.parse(errorFrame('/p1/requests/r1', 'not_found', 'no such request'))).toEqual({
      action: 'error',
      payload: { topic: '/p1/requests/r1', code: 'not_found', message: 'no such request' },
    });
    expect(JSON.parse(errorFrame(null, 'bad_request', 'frame is not valid JSON'))).toEqual({
      action: 'error',
      payload: { topic: null, code: 'bad_request', message: 'frame is not valid JSON' },
    });
  });

  it('me, ping and pong have the Tiledesk shapes', () => {
    expect(JSON.parse(meFrame('conn-1', 'u1'))).toEqual({ action: 'me', payload: { id: 'conn-1', userId: 'u1' } });
    expect(JSON.parse(PING_FRAME)).toEqual({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
    expect(JSON.parse(PONG_FRAME)).toEqual({ action: 'heartbeat', payload: { message: { text: 'pong' } } });
  });

  it('every server frame has an action string and a payload object', () => {
    for (const raw of all) {
      const frame = JSON.parse(raw);
      expect(typeof frame.action).toBe('string');
      expect(typeof frame.payload).toBe('object');
      expect(frame.payload).not.toBeNull();
      expect(Array.isArray(frame.payload)).toBe(false);
    }
  });

  it('offers exactly the error codes of the spec', () => {
    expect([...ERROR_CODES].sort()).toEqual(
      [
        'bad_request',
        'unknown_topic',
        'forbidden',
        'not_found',
        'rate_limited',
        'too_many_subscriptions',
        'too_many_connections',
        'internal',
      ].sort(),
    );
  });
});
