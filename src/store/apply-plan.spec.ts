import * as f from '../../test/helpers/factories';
import { MessageDoc, ProjectUserDoc, RequestDoc } from '../domain/documents';
import { validateEnvelope } from '../ingest/event-validation';
import { PlanOptions, ProjectStateReader, WriteOp, planApply, tombstoneKey } from './apply-plan';

/** The planner's tombstone rules on a hand-made project state; the ReadModel contract covers both engines. */

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const TTL = 3_600_000;
const at = (ms: number) => new Date(ms).toISOString();

interface FakeState {
  requests?: RequestDoc[];
  projectUsers?: ProjectUserDoc[];
  messages?: MessageDoc[];
  tombstones?: Record<string, number>;
}

function reader(state: FakeState): ProjectStateReader & { tombstoneReads: string[][] } {
  const requests = new Map((state.requests ?? []).map((r) => [r.request_id, r]));
  const pus = new Map((state.projectUsers ?? []).map((pu) => [pu._id, pu]));
  const tombstoneReads: string[][] = [];
  return {
    tombstoneReads,
    project: () => Promise.resolve(null),
    request: (rid) => Promise.resolve(requests.get(rid) ?? null),
    requestIdOf: (oid) => Promise.resolve([...requests.values()].find((r) => r._id === oid)?.request_id),
    message: (rid, id) => Promise.resolve((state.messages ?? []).find((m) => m.recipient === rid && m._id === id) ?? null),
    projectUser: (id) => Promise.resolve(pus.get(id) ?? null),
    projectUsers: () => Promise.resolve([...pus.values()]),
    listed: () => Promise.resolve([]),
    hasEvent: () => Promise.resolve(false),
    bot: () => Promise.resolve(null),
    tombstones: (keys) => {
      tombstoneReads.push(keys);
      return Promise.resolve(keys.map((k) => state.tombstones?.[k] ?? null));
    },
  };
}

function event(raw: { type: string; data: Record<string, unknown> }) {
  return validateEnvelope(raw, 0, { maxEventBytes: 262_144 }).event;
}

function requestDoc(data: Record<string, unknown>): RequestDoc {
  const e = event({ type: 'request.update', data });
  if (e.type !== 'request.upsert') throw new Error('not a request');
  return e.data;
}

const opts = (overrides: Partial<PlanOptions> = {}): PlanOptions => ({
  requestsLimit: 5,
  now: T0 + 1000,
  acceptedAt: T0 + 1000,
  tombstoneTtlMs: TTL,
  ...overrides,
});

const tombOps = (ops: WriteOp[] | undefined) => (ops ?? []).filter((o) => o.op === 'putTombstone' || o.op === 'dropTombstone');

describe('planApply: delete tombstones', () => {
  it('a request.delete of a stored request leaves a tombstone under its request_id and its _id, at acceptedAt', async () => {
    const stored = requestDoc(f.request('p', 'r1'));
    const plan = await planApply(
      event({ type: 'request.delete', data: { request_id: 'r1', id_project: 'p' } }),
      reader({ requests: [stored] }),
      opts({ acceptedAt: T0 }),
    );
    expect(plan.outcome).toBe('applied');
    expect(tombOps(plan.ops)).toEqual([
      { op: 'putTombstone', key: tombstoneKey.request('r1'), at: T0 },
      { op: 'putTombstone', key: tombstoneKey.requestOid('oid-r1'), at: T0 },
    ]);
  });

  it('a delete of an unknown request is a duplicate that leaves a tombstone under each id it names', async () => {
    const both = await planApply(
      event({ type: 'request.delete', data: { request_id: 'r1', _id: 'oid-x', id_project: 'p' } }),
      reader({}),
      opts({ acceptedAt: T0 }),
    );
    expect(both.outcome).toBe('duplicate');
    expect(tombOps(both.ops).map((o) => o.op === 'putTombstone' && o.key)).toEqual(['r:r1', 'o:oid-x']);
    const byOid = await planApply(event({ type: 'request.delete', data: { _id: 'oid-y', id_project: 'p' } }), reader({}), opts());
    expect(byOid).toEqual({ outcome: 'duplicate', ops: [{ op: 'putTombstone', key: 'o:oid-y', at: T0 + 1000 }] });
  });

  it('a project_user.delete leaves a tombstone under its _id, known or not', async () => {
    const pu = f.projectUser('p', 'u1', 'agent') as unknown as ProjectUserDoc;
    const known = await planApply(
      event({ type: 'project_user.delete', data: { _id: pu._id, id_project: 'p' } }),
      reader({ projectUsers: [pu] }),
      opts({ acceptedAt: T0 }),
    );
    expect(known.outcome).toBe('applied');
    expect(tombOps(known.ops)).toEqual([{ op: 'putTombstone', key: `pu:${pu._id}`, at: T0 }]);
    const unknown = await planApply(
      event({ type: 'project_user.delete', data: { _id: 'pu-z', id_project: 'p' } }),
      reader({}),
      opts({ acceptedAt: T0 }),
    );
    expect(unknown).toEqual({ outcome: 'duplicate', ops: [{ op: 'putTombstone', key: 'pu:pu-z', at: T0 }] });
  });

  it('a request upsert reads both tombstones in one call, with its other lookups', async () => {
    const r = reader({});
    await planApply(event({ type: 'request.create', data: f.request('p', 'r1') }), r, opts());
    expect(r.tombstoneReads).toEqual([['r:r1', 'o:oid-r1']]);
  });

  it('either tombstone of a request makes a create not after the delete stale', async () => {
    for (const key of ['r:r1', 'o:oid-r1']) {
      const r = reader({ tombstones: { [key]: T0 } });
      const older = await planApply(event({ type: 'request.create', data: f.request('p', 'r1', { updatedAt: at(T0 - 1) }) }), r, opts());
      expect(older).toEqual({ outcome: 'stale' });
      const same = await planApply(event({ type: 'request.create', data: f.request('p', 'r1', { updatedAt: at(T0) }) }), r, opts());
      expect(same).toEqual({ outcome: 'stale' });
    }
  });

  it('a newer create is applied and drops the tombstones it found', async () => {
    const r = reader({ tombstones: { 'r:r1': T0, 'o:oid-r1': T0 - 5 } });
    const plan = await planApply(event({ type: 'request.create', data: f.request('p', 'r1', { updatedAt: at(T0 + 1) }) }), r, opts());
    expect(plan.outcome).toBe('applied');
    expect(tombOps(plan.ops)).toEqual([
      { op: 'dropTombstone', key: 'r:r1' },
      { op: 'dropTombstone', key: 'o:oid-r1' },
    ]);
  });

  it('a create without updatedAt is applied (it cannot be compared with the delete)', async () => {
    const data: Record<string, unknown> = f.request('p', 'r1');
    delete data.updatedAt;
    const plan = await planApply(event({ type: 'request.create', data }), reader({ tombstones: { 'r:r1': T0 } }), opts());
    expect(plan.outcome).toBe('applied');
  });

  it('an expired tombstone counts as absent (and is dropped)', async () => {
    const r = reader({ tombstones: { 'r:r1': T0 } });
    const older = event({ type: 'request.create', data: f.request('p', 'r1', { updatedAt: at(T0 - 1) }) });
    expect((await planApply(older, r, opts({ now: T0 + TTL - 1 }))).outcome).toBe('stale');
    const plan = await planApply(older, r, opts({ now: T0 + TTL }));
    expect(plan.outcome).toBe('applied');
    expect(tombOps(plan.ops)).toEqual([{ op: 'dropTombstone', key: 'r:r1' }]);
  });

  it('a stored document decides by itself: its tombstones are not consulted', async () => {
    const stored = requestDoc(f.request('p', 'r1', { updatedAt: at(T0 - 10) }));
    const plan = await planApply(
      event({ type: 'request.update', data: f.request('p', 'r1', { updatedAt: at(T0 - 5) }) }),
      reader({ requests: [stored], tombstones: { 'r:r1': T0 } }),
      opts(),
    );
    expect(plan.outcome).toBe('applied');
    expect(tombOps(plan.ops)).toEqual([]);
  });

  it('a project_user create not after its delete is stale, a newer one applies and drops the tombstone', async () => {
    const r = reader({ tombstones: { 'pu:pu-p-u1': T0 } });
    const older = await planApply(
      event({ type: 'project_user.create', data: f.projectUser('p', 'u1', 'agent', { updatedAt: at(T0) }) }),
      r,
      opts(),
    );
    expect(older).toEqual({ outcome: 'stale' });
    const newer = await planApply(
      event({ type: 'project_user.create', data: f.projectUser('p', 'u1', 'agent', { updatedAt: at(T0 + 1) }) }),
      r,
      opts(),
    );
    expect(newer.outcome).toBe('applied');
    expect(tombOps(newer.ops)).toEqual([{ op: 'dropTombstone', key: 'pu:pu-p-u1' }]);
  });

  describe('a message of a deleted request', () => {
    const message = (overrides: Record<string, unknown>) => event({ type: 'message.create', data: f.message('p', 'r1', overrides) });

    it('reads the r: tombstone with the message, in one call', async () => {
      const r = reader({});
      const plan = planApply(message({}), r, opts());
      // Issued before the planner first waits: in the same round trip as the message read.
      expect(r.tombstoneReads).toEqual([[tombstoneKey.request('r1')]]);
      await plan;
    });

    it('not stored and dated no later than the delete (updatedAt, else createdAt): stale, nothing written', async () => {
      const r = reader({ tombstones: { 'r:r1': T0 } });
      expect(await planApply(message({ updatedAt: at(T0 - 1) }), r, opts())).toEqual({ outcome: 'stale' });
      expect(await planApply(message({ updatedAt: at(T0) }), r, opts())).toEqual({ outcome: 'stale' });
      expect(await planApply(message({ updatedAt: undefined, createdAt: at(T0 - 1) }), r, opts())).toEqual({ outcome: 'stale' });
      // Ingest refuses an unparseable date; the planner still falls back to createdAt.
      const unparsed = { ...f.message('p', 'r1', { createdAt: at(T0) }), updatedAt: 'not a date' };
      expect(await planApply({ type: 'message.upsert', projectId: 'p', data: unparsed }, r, opts())).toEqual({ outcome: 'stale' });
    });

    it('dated after the delete, undated, or past the TTL: applied, and the tombstone stays', async () => {
      const r = reader({ tombstones: { 'r:r1': T0 } });
      for (const plan of [
        await planApply(message({ updatedAt: at(T0 + 1), createdAt: at(T0 - 1) }), r, opts()),
        await planApply(message({ updatedAt: undefined, createdAt: at(T0 + 1) }), r, opts()),
        await planApply(message({ updatedAt: undefined, createdAt: undefined }), r, opts()),
        await planApply(message({ updatedAt: at(T0 - 1) }), r, opts({ now: T0 + TTL })),
      ]) {
        expect(plan.outcome).toBe('applied');
        expect(plan.ops?.map((o) => o.op)).toEqual(['putMessage']);
      }
      // Another request's tombstone does not count.
      const other = reader({ tombstones: { 'r:r2': T0, 'o:r1': T0 } });
      expect((await planApply(message({ updatedAt: at(T0 - 1) }), other, opts())).outcome).toBe('applied');
    });

    it('stored already: the normal staleness rules decide, not the tombstone', async () => {
      const data = f.message('p', 'r1', { updatedAt: at(T0 - 10) });
      const stored = event({ type: 'message.create', data });
      if (stored.type !== 'message.upsert') throw new Error('not a message');
      const r = reader({ messages: [stored.data], tombstones: { 'r:r1': T0 } });
      const update = await planApply(event({ type: 'message.update', data: { ...data, status: 300, updatedAt: at(T0 - 5) } }), r, opts());
      expect(update.outcome).toBe('applied');
      expect(update.outcome === 'applied' && update.change).toMatchObject({ type: 'message', method: 'UPDATE' });
      expect(await planApply(event({ type: 'message.update', data }), r, opts())).toEqual({ outcome: 'duplicate' });
    });
  });
});
