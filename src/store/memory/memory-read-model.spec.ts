import * as f from '../../../test/helpers/factories';
import { validateEnvelope } from '../../ingest/event-validation';
import { parseTopic } from '../../protocol/topic-grammar';
import { CONTRACT_OPTIONS, describeReadModelContract } from '../read-model.contract';
import { TopicRead } from '../read-model';
import { MemoryReadModel, MemoryReadModelOptions } from './memory-read-model';
import { describeMetricsContract } from '../../analytics/metrics.contract';
import { DEFAULT_METRICS_SETTINGS } from '../../analytics/project-metrics';

describeReadModelContract('MemoryReadModel', (opts) => new MemoryReadModel(opts));

describe('MemoryReadModel: time-bound housekeeping (injected clock)', () => {
  let clock: number;
  const HOUR = 3_600_000;

  function model(overrides: Partial<MemoryReadModelOptions> = {}): MemoryReadModel {
    return new MemoryReadModel({
      ...CONTRACT_OPTIONS,
      closedRequestTtlS: 600,
      eventsTtlS: 60,
      dedupeTtlS: 30,
      now: () => clock,
      ...overrides,
    });
  }

  async function ingest(m: MemoryReadModel, raw: { type: string; data: Record<string, unknown> }): Promise<string> {
    const v = validateEnvelope(raw, 0, { maxEventBytes: 262_144 });
    return (await m.apply(v.event, clock)).outcome;
  }

  function read(m: MemoryReadModel, topic: string, userId = 'u1'): Promise<TopicRead> {
    return m.readForSubscribe(parseTopic(topic)!, userId);
  }

  beforeEach(() => {
    clock = Date.parse('2030-01-01T00:00:00.000Z');
  });

  it('sweep() removes a closed request and its messages once CLOSED_REQUEST_TTL_S has passed since it closed', async () => {
    const m = model();
    await ingest(m, { type: 'request.create', data: f.request('p1', 'r1') });
    await ingest(m, { type: 'message.create', data: f.message('p1', 'r1') });
    clock += HOUR;
    await ingest(m, { type: 'request.update', data: f.request('p1', 'r1', { status: 1000 }) });

    clock += 599_000;
    m.sweep();
    expect((await read(m, '/p1/requests/r1')).request).toMatchObject({ status: 1000 });
    expect((await read(m, '/p1/requests/r1/messages')).messages).toHaveLength(1);

    clock += 1_000;
    m.sweep();
    expect((await read(m, '/p1/requests/r1')).request).toBeNull();
    expect((await read(m, '/p1/requests/r1/messages')).messages).toEqual([]);
  });

  it('sweep() keeps open requests however old, and a request reopened before its TTL', async () => {
    const m = model();
    await ingest(m, { type: 'request.create', data: f.request('p1', 'open') });
    await ingest(m, { type: 'request.create', data: f.request('p1', 'reopened', { status: 1000 }) });
    clock += 300_000;
    await ingest(m, { type: 'request.update', data: f.request('p1', 'reopened', { status: 200 }) });
    clock += 10 * HOUR;
    m.sweep();
    expect((await read(m, '/p1/requests/open')).request).not.toBeNull();
    expect((await read(m, '/p1/requests/reopened')).request).toMatchObject({ status: 200 });
  });

  it('the TTL counts from the first close, not from later updates of the closed request', async () => {
    const m = model();
    await ingest(m, { type: 'request.create', data: f.request('p1', 'r1', { status: 1000 }) });
    clock += 500_000;
    await ingest(m, { type: 'request.update', data: f.request('p1', 'r1', { status: 1000, rating: 5 }) });
    clock += 100_000;
    m.sweep();
    expect((await read(m, '/p1/requests/r1')).request).toBeNull();
  });

  it('a swept request applies as new when it comes back', async () => {
    const m = model();
    await ingest(m, { type: 'request.create', data: f.request('p1', 'r1', { status: 1000 }) });
    clock += HOUR;
    m.sweep();
    expect(await ingest(m, { type: 'request.update', data: f.request('p1', 'r1', { status: 1000 }) })).toBe('applied');
  });

  it('remembered event ids expire after INGEST_DEDUPE_TTL_S, and sweep() forgets them', async () => {
    const m = model();
    await m.rememberEventId('e1');
    clock += 29_999;
    expect(await m.isDuplicateEventId('e1')).toBe(true);
    clock += 1;
    expect(await m.isDuplicateEventId('e1')).toBe(false);
    m.sweep();
    expect(await m.isDuplicateEventId('e1')).toBe(false);
  });

  it('with INGEST_DEDUPE_TTL_S=0 no id is remembered', async () => {
    const m = model({ dedupeTtlS: 0 });
    await m.rememberEventId('e1');
    expect(await m.isDuplicateEventId('e1')).toBe(false);
  });

  it('events leave snapshots EVENTS_TTL_S after their createdAt', async () => {
    const m = model();
    const createdAt = new Date(clock).toISOString();
    await ingest(m, { type: 'event.emit', data: f.event('p1', 'pu-1', 'typing', { createdAt }) });
    clock += 60_000;
    expect((await read(m, '/p1/events/pu-1')).events).toHaveLength(1);
    clock += 1;
    expect((await read(m, '/p1/events/pu-1')).events).toEqual([]);
    expect((await read(m, '/p1/events/pu-1/typing')).events).toEqual([]);
  });

  it('an event without createdAt counts from when it arrived', async () => {
    const m = model();
    const e: Record<string, unknown> = { ...f.event('p1', 'pu-1', 'typing') };
    delete e.createdAt;
    await ingest(m, { type: 'event.emit', data: e });
    clock += 30_000;
    expect((await read(m, '/p1/events/pu-1')).events).toHaveLength(1);
    clock += 31_000;
    expect((await read(m, '/p1/events/pu-1')).events).toEqual([]);
  });
});

describeMetricsContract('MemoryReadModel', (opts) => new MemoryReadModel(opts));

describe('MemoryReadModel: metrics windows stay bounded', () => {
  it('forgets arrivals that left the window when new ones come, whether or not anyone reads the metrics', async () => {
    let clock = Date.parse('2030-01-01T00:00:00.000Z');
    const m = new MemoryReadModel({ ...CONTRACT_OPTIONS, metrics: { ...DEFAULT_METRICS_SETTINGS, windowS: 60 }, now: () => clock });
    const ingest = (raw: { type: string; data: Record<string, unknown> }) =>
      m.apply(validateEnvelope(raw, 0, { maxEventBytes: 262_144 }).event, clock);
    for (let i = 0; i < 100; i++) {
      const at = new Date(clock).toISOString();
      await ingest({ type: 'request.create', data: f.request('p1', `r${i}`, { status: 100, createdAt: at, updatedAt: at }) });
      clock += 10_000;
    }
    const windows = (m as unknown as { projects: Map<string, { metrics: { arrivals: { size: number } } }> }).projects.get('p1')!.metrics;
    // 60 s of arrivals, one every 10 s: six kept, not a hundred.
    expect(windows.arrivals.size).toBeLessThanOrEqual(6);
    expect((await m.readMetrics('p1')).metrics.flow.arrivals_per_hour).toBe(300);
  });
});
