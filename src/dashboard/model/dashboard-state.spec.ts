import { hasNoData, initialState, reduce } from './dashboard-state';
import { metricsAt } from './metrics-fixture';

describe('the dashboard reducer', () => {
  it('keeps the connection state and reconnect count', () => {
    const s = reduce(initialState(), { type: 'connection', state: 'reconnecting', reconnects: 2 });
    expect(s).toMatchObject({ connection: 'reconnecting', reconnects: 2 });
  });

  it('takes metrics frames: latest object, one chart point each, the server clock offset', () => {
    let s = reduce(initialState(), { type: 'subscribing', topic: 'metrics' });
    expect(s.metricsTopic).toEqual({ kind: 'pending' });
    const at = Date.parse('2026-11-25T10:00:00.000Z');
    s = reduce(s, { type: 'metrics', message: metricsAt('2026-11-25T10:00:01.000Z', { unassigned: 2 }), receivedAtMs: at });
    s = reduce(s, { type: 'metrics', message: metricsAt('2026-11-25T10:00:03.000Z', { unassigned: 4 }), receivedAtMs: at + 2000 });
    expect(s.metricsTopic).toEqual({ kind: 'live' });
    expect(s.metrics?.value.requests.unassigned).toBe(4);
    expect(s.series.map((p) => p.queue)).toEqual([2, 4]);
    expect(s.clockOffsetMs).toBe(1000);
    // A Date header does not override the finer offset the metrics give.
    expect(reduce(s, { type: 'clock', offsetMs: 9000 }).clockOffsetMs).toBe(1000);
    expect(reduce(initialState(), { type: 'clock', offsetMs: 9000 }).clockOffsetMs).toBe(9000);
    // Not a metrics object: ignored.
    expect(reduce(s, { type: 'metrics', message: null, receivedAtMs: at })).toBe(s);
  });

  it('records a refused topic with its code', () => {
    const s = reduce(initialState(), { type: 'refused', topic: 'metrics', code: 'forbidden', message: 'no' });
    expect(s.metricsTopic).toEqual({ kind: 'refused', code: 'forbidden', message: 'no' });
    expect(s.requestsTopic).toEqual({ kind: 'off' });
  });

  it('keeps the request list from T1 frames', () => {
    let s = reduce(initialState(), { type: 'requests', method: 'CREATE', message: [{ _id: 'a', request_id: 'a', status: 100 }] });
    s = reduce(s, { type: 'requests', method: 'UPDATE', message: { _id: 'b', request_id: 'b', status: 200 } });
    expect([...s.requests.keys()]).toEqual(['a', 'b']);
    expect(s.requestsTopic).toEqual({ kind: 'live' });
  });

  it('follows agents, then fills them in from T5, and the viewer from T4', () => {
    let s = reduce(initialState(), { type: 'follow-agents', userIds: ['u1', 'u2'] });
    expect([...s.agents.entries()]).toEqual([
      ['u1', undefined],
      ['u2', undefined],
    ]);
    expect(reduce(s, { type: 'follow-agents', userIds: ['u2'] })).toBe(s);
    s = reduce(s, { type: 'agent', userId: 'u2', message: { _id: 'pu-2', id_user: 'u2', isBusy: true } });
    expect(s.agents.get('u2')).toMatchObject({ isBusy: true });
    s = reduce(s, { type: 'me', message: { _id: 'pu-me', id_user: 'me' } });
    expect(s.me?._id).toBe('pu-me');
    expect(reduce(s, { type: 'agent', userId: 'u1', message: null })).toBe(s);
  });

  it('tells a project with no data yet from a quiet one', () => {
    const m = metricsAt('2026-11-25T10:00:00.000Z', { arrivals: 0, closures: 0 });
    expect(hasNoData(m)).toBe(false);
    expect(hasNoData({ ...m, requests: { ...m.requests, open: 0 } })).toBe(true);
    expect(hasNoData({ ...m, requests: { ...m.requests, open: 0 }, flow: { ...m.flow, closures_per_hour: 4 } })).toBe(false);
  });
});
