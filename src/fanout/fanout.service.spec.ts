import pino from 'pino';
import { MemoryBus } from '../bus/memory/memory-bus';
import { validateEnvelope } from '../ingest/event-validation';
import { MemoryReadModel } from '../store/memory/memory-read-model';
import { TopicRead } from '../store/read-model';
import { Topic } from '../protocol/topic-grammar';
import * as f from '../../test/helpers/factories';
import { waitFor } from '../../test/helpers/wait-for';
import { loadConfig } from '../config/app-config';
import { MemoryConnectionLimits } from '../limits/memory/memory-connection-limits';
import { FanoutService } from './fanout.service';
import { OutboundFrame } from './outbound-frame';
import { FrameSink, ProjectSeat, Subscription } from './subscription-registry';

/** A read model whose subscribe reads wait on gates placed before and after the actual read. */
class GatedReadModel extends MemoryReadModel {
  before: Promise<void> = Promise.resolve();
  after: Promise<void> = Promise.resolve();
  override async readForSubscribe(topic: Topic, userId: string): Promise<TopicRead> {
    await this.before;
    const read = await super.readForSubscribe(topic, userId);
    await this.after;
    return read;
  }
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

class Sink implements FrameSink {
  readonly subscriptions = new Map<string, Subscription>();
  readonly seats = new Map<string, ProjectSeat>();
  closed = false;
  readonly frames: any[] = [];
  constructor(
    readonly userId: string,
    readonly id = 'c1',
  ) {}
  send(frame: OutboundFrame): void {
    this.frames.push(JSON.parse(frame.payload.toString()));
  }
}

const STORE_OPTIONS = { history: { requests: 100, messages: 300, events: 20 }, closedRequestTtlS: 60, eventsTtlS: 3600, dedupeTtlS: 60 };

/** A fan-out over a memory store and bus, and an ingest that applies then publishes like the pipeline. */
function harness<S extends MemoryReadModel>(store: S, env: Record<string, string> = {}) {
  const bus = new MemoryBus();
  const config = loadConfig({ GLOBAL_SECRET: 'x', ...env });
  const limits = new MemoryConnectionLimits({ values: config.limits, capRetryMs: 1000 });
  const fanout = new FanoutService(store, bus, pino({ level: 'silent' }), limits, config);
  const ingest = async (raw: unknown) => {
    const v = validateEnvelope(raw, 0, { maxEventBytes: 1 << 20 });
    const r = await store.apply(v.event, Date.now());
    if (r.outcome === 'applied') await bus.publish(r.envelope);
    return r;
  };
  return { store, bus, fanout, ingest };
}

describe('FanoutService subscribe without a gap', () => {
  const { store, fanout, ingest } = harness(new GatedReadModel(STORE_OPTIONS));

  it('drops what the snapshot already holds and replays, after the snapshot, what was applied after the read', async () => {
    await ingest({ type: 'project_user.create', data: f.projectUser('gp', 'u1', 'owner') });
    await ingest({ type: 'request.create', data: f.request('gp', 'r', { status: 100, n: 0 }) });
    const before = gate();
    const after = gate();
    store.before = before.promise;
    store.after = after.promise;
    const sink = new Sink('u1');
    const answered = fanout.subscribe(sink, '/gp/requests/r');
    await ingest({ type: 'request.update', data: f.request('gp', 'r', { status: 200, n: 1 }) }); // before the read: in the snapshot
    before.open();
    await new Promise((resolve) => setImmediate(resolve));
    await ingest({ type: 'request.update', data: f.request('gp', 'r', { status: 200, n: 2 }) }); // after the read: replayed
    expect(sink.frames).toEqual([]); // nothing before the snapshot
    after.open();
    await answered;
    expect(sink.frames.map((fr) => [fr.payload.method, fr.payload.message.n])).toEqual([
      ['CREATE', 1],
      ['UPDATE', 2],
    ]);
    await ingest({ type: 'request.update', data: f.request('gp', 'r', { status: 200, n: 3 }) });
    expect(sink.frames.map((fr) => fr.payload.message.n)).toEqual([1, 2, 3]);
  });

  it('a membership revoked while the snapshot is read ends the subscription right after it', async () => {
    const after = gate();
    store.before = Promise.resolve();
    store.after = after.promise;
    const sink = new Sink('u1');
    const answered = fanout.subscribe(sink, '/gp/requests');
    await new Promise((resolve) => setImmediate(resolve));
    await ingest({ type: 'project_user.update', data: f.projectUser('gp', 'u1', 'owner', { status: 'disabled' }) });
    after.open();
    await answered;
    expect(sink.frames.map((fr) => fr.action + ':' + (fr.payload.method ?? fr.payload.code))).toEqual([
      'publish:CREATE',
      'error:forbidden',
    ]);
    expect(sink.subscriptions.size).toBe(0);
    expect(fanout.subscriptionCount).toBe(0);
  });
});

describe('FanoutService and connections that end', () => {
  const { store, fanout, ingest } = harness(new GatedReadModel(STORE_OPTIONS));

  it('registers nothing for a connection that closed while a repeated subscribe waited its turn', async () => {
    await ingest({ type: 'project_user.create', data: f.projectUser('cp', 'u1', 'owner') });
    const before = gate();
    store.before = before.promise;
    const sink = new Sink('u1');
    const first = fanout.subscribe(sink, '/cp/requests');
    const second = fanout.subscribe(sink, '/cp/requests'); // waits for the first answer
    sink.closed = true;
    fanout.disconnect(sink);
    before.open();
    await Promise.all([first, second]);
    expect(sink.subscriptions.size).toBe(0);
    expect(fanout.subscriptionCount).toBe(0);
  });
});

describe('FanoutService after missed envelopes', () => {
  const { store, fanout, ingest } = harness(new MemoryReadModel(STORE_OPTIONS));

  it('answers every live subscription with a fresh snapshot when the seq jumps or steps back', async () => {
    await ingest({ type: 'project_user.create', data: f.projectUser('mp', 'u1', 'owner') });
    const sink = new Sink('u1');
    await fanout.subscribe(sink, '/mp/requests');
    await ingest({ type: 'request.create', data: f.request('mp', 'a', { status: 100 }) });
    // an envelope is lost on its way: the store applies it, the bus never delivers it
    const lost = validateEnvelope({ type: 'request.create', data: f.request('mp', 'b', { status: 100 }) }, 0, { maxEventBytes: 1 << 20 });
    await store.apply(lost.event, Date.now());
    await ingest({ type: 'request.create', data: f.request('mp', 'c', { status: 100 }) });
    await waitFor(() => sink.frames.filter((fr) => fr.payload.method === 'CREATE' && Array.isArray(fr.payload.message)).length === 2);
    const resent = sink.frames.filter((fr) => Array.isArray(fr.payload.message)).at(-1);
    expect(resent.payload.message.map((r: any) => r.request_id).sort()).toEqual(['a', 'b', 'c']);
    // and the next envelope flows normally, once
    const before = sink.frames.length;
    await ingest({ type: 'request.create', data: f.request('mp', 'd', { status: 100 }) });
    expect(sink.frames.slice(before).map((fr) => fr.payload.message.request_id)).toEqual(['d']);
  });
});

/** A read model whose subscribe reads fail while `down` is set, as while Redis is unreachable. */
class UnreachableReadModel extends MemoryReadModel {
  down = false;
  reads = 0;
  /** Each read takes, in call order, the next of `gates` (else `gate`, when set) to wait for, and the next outcome. */
  gate: Promise<void> | null = null;
  gates: Array<Promise<void>> = [];
  outcomes: Array<'ok' | 'fail'> = [];
  override async readForSubscribe(topic: Topic, userId: string): Promise<TopicRead> {
    this.reads++;
    const wait = this.gates.shift() ?? this.gate;
    const outcome = this.outcomes.shift();
    if (wait) await wait;
    if (outcome === 'fail') throw new Error('store unreachable');
    if (this.down) throw new Error('store unreachable');
    return super.readForSubscribe(topic, userId);
  }
}

describe('FanoutService when the store cannot answer a resync', () => {
  const { store, fanout, ingest } = harness(new UnreachableReadModel(STORE_OPTIONS));

  it('keeps the subscription waiting, then answers it at the next resync even if its project stays quiet', async () => {
    await ingest({ type: 'project_user.create', data: f.projectUser('qp', 'u1', 'owner') });
    await ingest({ type: 'request.create', data: f.request('qp', 'a', { status: 100 }) });
    const sink = new Sink('u1');
    await fanout.subscribe(sink, '/qp/requests');
    store.down = true;
    fanout.resyncAll('the bus reconnected');
    await new Promise((resolve) => setImmediate(resolve));
    expect(sink.frames).toHaveLength(1); // the first snapshot only: no error frame, the subscription waits
    store.down = false;
    fanout.resyncAll('the bus reconnected');
    await waitFor(() => sink.frames.length === 2, { what: 'a fresh snapshot' });
    expect(sink.frames[1].payload).toMatchObject({ topic: '/qp/requests', method: 'CREATE' });
    expect(sink.frames[1].payload.message.map((r: any) => r.request_id)).toEqual(['a']);
  });

  it('reads a waiting subscription again at most every 200 ms while events keep coming, not at every event', async () => {
    await ingest({ type: 'project_user.create', data: f.projectUser('rp', 'u1', 'owner') });
    const sink = new Sink('u1');
    await fanout.subscribe(sink, '/rp/requests');
    store.down = true;
    fanout.resyncAll('the bus reconnected');
    await new Promise((resolve) => setImmediate(resolve));
    const readsBefore = store.reads;
    const started = Date.now();
    for (let i = 0; i < 40; i++) {
      await ingest({ type: 'request.create', data: f.request('rp', `r${i}`, { status: 100 }) });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const rounds = store.reads - readsBefore;
    expect(rounds).toBeGreaterThanOrEqual(1);
    expect(rounds).toBeLessThanOrEqual(Math.floor((Date.now() - started) / 200) + 2);
    expect(rounds).toBeLessThan(40); // not one read per event
    store.down = false;
    await ingest({ type: 'request.create', data: f.request('rp', 'r40', { status: 100 }) });
    await waitFor(() => sink.frames.length === 2, { what: 'a snapshot once the store answers' });
    expect(sink.frames[1].payload.message).toHaveLength(41);
  });
});

describe('FanoutService when a resync read fails while events arrive', () => {
  const { store, fanout, ingest } = harness(new UnreachableReadModel(STORE_OPTIONS));

  it('reads the subscription again soon, without waiting for another event', async () => {
    await ingest({ type: 'project_user.create', data: f.projectUser('mo', 'u1', 'owner') });
    await ingest({ type: 'request.create', data: f.request('mo', 'a', { status: 100 }) });
    const sink = new Sink('u1');
    await fanout.subscribe(sink, '/mo/requests');
    const held = gate();
    store.gate = held.promise;
    store.outcomes = ['fail'];
    fanout.resyncAll('the bus reconnected');
    await ingest({ type: 'request.create', data: f.request('mo', 'b', { status: 100 }) }); // while the read is out
    store.gate = null;
    held.open();
    // No further event comes: the subscription must not wait for one.
    await waitFor(() => sink.frames.length === 2, { what: 'a fresh snapshot without another event' });
    expect(sink.frames[1].payload.message.map((r: any) => r.request_id).sort()).toEqual(['a', 'b']);
  });
});

describe('FanoutService when a client re-subscribes during a resync', () => {
  const { store, fanout, ingest } = harness(new UnreachableReadModel(STORE_OPTIONS));

  it("keeps a subscription that the client's own re-subscribe answered when a concurrent resync read fails", async () => {
    await ingest({ type: 'project_user.create', data: f.projectUser('cr', 'u1', 'owner') });
    const sink = new Sink('u1');
    await fanout.subscribe(sink, '/cr/requests');
    store.outcomes = ['fail'];
    fanout.resyncAll('the bus reconnected'); // parks it
    await new Promise((resolve) => setImmediate(resolve));
    const [clientRead, resyncRead] = [gate(), gate()];
    store.gates = [clientRead.promise, resyncRead.promise];
    store.outcomes = ['ok', 'fail'];
    const resubscribed = fanout.subscribe(sink, '/cr/requests'); // the client's read: answered
    fanout.resyncAll('the bus reconnected'); // a resync read at the same time: fails, after the client's
    clientRead.open();
    await resubscribed;
    resyncRead.open();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sink.frames.map((fr) => fr.action === 'error' || fr.payload.method)).toEqual(['CREATE', 'CREATE']);
    await ingest({ type: 'request.create', data: f.request('cr', 'a', { status: 100 }) });
    expect(sink.frames.at(-1).payload).toMatchObject({ method: 'CREATE', message: { request_id: 'a' } });
  });
});
