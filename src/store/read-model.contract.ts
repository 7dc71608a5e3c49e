import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as f from '../../test/helpers/factories';
import { Change, Envelope } from '../domain/changes';
import { RequestDoc } from '../domain/documents';
import { validateEnvelope } from '../ingest/event-validation';
import { parseTopic } from '../protocol/topic-grammar';
import { ApplyOutcome, HistoryLimits, ReadModel, TopicRead } from './read-model';

/**
 * The behaviour every ReadModel implementation must show (STYLE.md habit 3). The memory engine runs it in
 * its unit spec; the Redis engine runs the same suite against a real redis-server.
 *
 * Events are built from Tiledesk-shaped documents and go through validateEnvelope, exactly as ingest would
 * hand them to the read model. Every test works in its own project ids, so an implementation backed by a
 * shared server needs no flush between tests (it may still clean up in `dispose`).
 *
 * Time: events expire by their `createdAt` (ingest.md: kept for EVENTS_TTL_S, like Tiledesk's TTL index on
 * `createdAt`); the suite uses wall-clock time and never waits for anything to expire. The model reads its
 * clock through the `now` option the suite passes to `make`: wall-clock time plus an offset that a test may
 * move forward (reset before each test), to see what happens once a TTL has passed.
 */

export interface ReadModelContractOptions {
  history: HistoryLimits;
  closedRequestTtlS: number;
  eventsTtlS: number;
  dedupeTtlS: number;
  tombstoneTtlS: number;
  /** The model's clock (the suite passes one it controls; CONTRACT_OPTIONS has none). */
  now?: () => number;
}

export interface ReadModelContractHooks {
  /** Called after each test with the model it used: close connections, drop keys. */
  dispose?: (model: ReadModel) => void | Promise<void>;
}

export const CONTRACT_OPTIONS: ReadModelContractOptions = {
  history: { requests: 5, messages: 4, events: 3 },
  closedRequestTtlS: 86_400,
  eventsTtlS: 3600,
  dedupeTtlS: 3600,
  tombstoneTtlS: 3600,
};

type ChangeOf<T extends Change['type']> = Extract<Change, { type: T }>;

let projectCounter = 0;

export function describeReadModelContract(
  name: string,
  make: (opts: ReadModelContractOptions) => ReadModel | Promise<ReadModel>,
  hooks: ReadModelContractHooks = {},
): void {
  describe(`ReadModel contract: ${name}`, () => {
    let model: ReadModel;
    /** This test's project, and a second one for isolation checks. */
    let P: string;
    let Q: string;
    /** Added to wall-clock time in the model's clock. */
    let clockOffset = 0;
    const now = () => Date.now() + clockOffset;

    beforeEach(async () => {
      clockOffset = 0;
      model = await make({ ...CONTRACT_OPTIONS, now });
      projectCounter += 1;
      const base = `c${process.pid.toString(36)}${Date.now().toString(36)}${projectCounter}`;
      P = `${base}p`;
      Q = `${base}q`;
    });

    afterEach(async () => {
      await hooks.dispose?.(model);
    });

    async function ingest(raw: { type: string; data: Record<string, unknown>; id?: string }, acceptedAt = 1_000): Promise<ApplyOutcome> {
      const v = validateEnvelope(raw, 0, { maxEventBytes: 262_144 });
      return model.apply(v.event, acceptedAt);
    }

    async function applied(raw: { type: string; data: Record<string, unknown> }, acceptedAt = 1_000): Promise<Envelope> {
      const r = await ingest(raw, acceptedAt);
      if (r.outcome !== 'applied') throw new Error(`expected ${raw.type} to apply, got ${r.outcome}`);
      return r.envelope;
    }

    function changeOf<T extends Change['type']>(envelope: Envelope, type: T): ChangeOf<T> {
      expect(envelope.change.type).toBe(type);
      return envelope.change as ChangeOf<T>;
    }

    function read(topic: string, userId: string): Promise<TopicRead> {
      const parsed = parseTopic(topic);
      if (!parsed) throw new Error(`not a topic: ${topic}`);
      return model.readForSubscribe(parsed, userId);
    }

    async function requestIds(topic: string, userId: string): Promise<string[]> {
      return ((await read(topic, userId)).requests ?? []).map((r) => r.request_id);
    }

    /** The request as ingest normalizes it (wire shape), for comparisons. */
    function wire(data: Record<string, unknown>): RequestDoc {
      const v = validateEnvelope({ type: 'request.update', data }, 0, { maxEventBytes: 262_144 });
      if (v.event.type !== 'request.upsert') throw new Error('not a request');
      return v.event.data;
    }

    const member = (user: string, role: string, overrides: Record<string, unknown> = {}) =>
      ingest({ type: 'project_user.update', data: f.projectUser(P, user, role, overrides) });

    // ---- apply outcomes and sequence -------------------------------------------------------------

    describe('apply outcomes', () => {
      it('a new document is applied with an envelope naming the project, seq, acceptedAt and the change', async () => {
        const data = f.request(P, 'r1', { participants: ['u1'] });
        const r = await ingest({ type: 'request.create', data }, 123_456);
        expect(r.outcome).toBe('applied');
        if (r.outcome !== 'applied') return;
        expect(r.envelope).toMatchObject({ projectId: P, seq: 1, acceptedAt: 123_456 });
        const c = changeOf(r.envelope, 'request');
        expect(c.prev).toBeNull();
        expect(c.next).toEqual(wire(data));
      });

      it('the same document again is a duplicate and does not advance seq', async () => {
        const data = f.request(P, 'r1');
        await applied({ type: 'request.create', data });
        expect(await ingest({ type: 'request.update', data })).toEqual({ outcome: 'duplicate' });
        expect((await read(`/${P}/requests`, 'nobody')).seq).toBe(1);
        const next = await applied({ type: 'request.update', data: { ...data, status: 300, updatedAt: f.nextTime() } });
        expect(next.seq).toBe(2);
      });

      it('an older updatedAt is stale: nothing changes, seq stays', async () => {
        const older = f.request(P, 'r1', { status: 100 });
        const newer = { ...older, status: 200, updatedAt: f.nextTime() };
        await applied({ type: 'request.create', data: newer });
        expect(await ingest({ type: 'request.update', data: older })).toEqual({ outcome: 'stale' });
        expect((await read(`/${P}/requests/r1`, 'u1')).request).toMatchObject({ status: 200 });
        expect((await read(`/${P}/requests/r1`, 'u1')).seq).toBe(1);
      });

      it('a newer document is applied with the previous state as prev', async () => {
        const v1 = f.request(P, 'r1', { status: 100 });
        const v2 = { ...v1, status: 200, participants: ['u1'], updatedAt: f.nextTime(), __v: 1 };
        await applied({ type: 'request.create', data: v1 });
        const c = changeOf(await applied({ type: 'request.update', data: v2 }), 'request');
        expect(c.prev).toEqual(wire(v1));
        expect(c.next).toEqual(wire(v2));
      });

      it('equal updatedAt: a higher __v applies, a lower __v is stale', async () => {
        const v1 = f.request(P, 'r1', { __v: 1 });
        await applied({ type: 'request.create', data: v1 });
        expect(await ingest({ type: 'request.update', data: { ...v1, __v: 0, status: 300 } })).toEqual({ outcome: 'stale' });
        await applied({ type: 'request.update', data: { ...v1, __v: 2, status: 300 } });
        expect((await read(`/${P}/requests/r1`, 'u1')).request).toMatchObject({ status: 300, __v: 2 });
      });

      it('the same version with different content is applied', async () => {
        const v1 = f.request(P, 'r1');
        await applied({ type: 'request.create', data: v1 });
        const c = changeOf(await applied({ type: 'request.update', data: { ...v1, first_text: 'edited' } }), 'request');
        expect(c.next.first_text).toBe('edited');
      });

      it('seq increases by one per applied event, per project, across document kinds', async () => {
        const seqs: number[] = [];
        seqs.push((await applied({ type: 'project.update', data: f.project(P) })).seq);
        seqs.push((await applied({ type: 'project_user.create', data: f.projectUser(P, 'u1', 'agent') })).seq);
        expect(await ingest({ type: 'project.update', data: { ...f.project(P), updatedAt: '2000-01-01T00:00:00.000Z' } })).toEqual({
          outcome: 'stale',
        });
        seqs.push((await applied({ type: 'request.create', data: f.request(P, 'r1') })).seq);
        seqs.push((await applied({ type: 'message.create', data: f.message(P, 'r1') })).seq);
        seqs.push((await applied({ type: 'event.emit', data: f.event(P, 'pu-1', 'typing') })).seq);
        seqs.push((await applied({ type: 'faqbot.update', data: f.bot(P, 'b1') })).seq);
        expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
        expect((await applied({ type: 'request.create', data: f.request(Q, 'r1') })).seq).toBe(1);
        expect((await read(`/${P}/requests`, 'u1')).seq).toBe(6);
        expect((await read(`/${Q}/requests`, 'u1')).seq).toBe(1);
      });

      it('a read of a project never seen has seq 0 and nothing in it', async () => {
        const r = await read(`/${P}/requests/r1`, 'u1');
        expect(r).toMatchObject({ seq: 0, project: null, member: null, request: null });
        const t5 = await read(`/${P}/project_users/users/u1`, 'u1');
        expect(t5.target).toBeNull();
      });
    });

    // ---- requests ----------------------------------------------------------------------------------

    describe('requests', () => {
      it('T2 reads a request by request_id, in wire shape, also when closed or a draft', async () => {
        const open = f.request(P, 'r1', { agents: ['u1'] });
        const closed = f.request(P, 'r2', { status: 1000 });
        const draft = f.request(P, 'r3', { draft: true });
        for (const data of [open, closed, draft]) await applied({ type: 'request.create', data });
        expect((await read(`/${P}/requests/r1`, 'u9')).request).toEqual(wire(open));
        expect((await read(`/${P}/requests/r2`, 'u9')).request).toMatchObject({ request_id: 'r2', status: 1000 });
        expect((await read(`/${P}/requests/r3`, 'u9')).request).toMatchObject({ request_id: 'r3', draft: true });
        expect((await read(`/${P}/requests/r4`, 'u9')).request).toBeNull();
        expect((await read(`/${Q}/requests/r1`, 'u9')).request).toBeNull();
      });

      it('request.delete by request_id removes the request and its messages', async () => {
        const data = f.request(P, 'r1');
        await applied({ type: 'request.create', data });
        await applied({ type: 'message.create', data: f.message(P, 'r1') });
        const c = changeOf(await applied({ type: 'request.delete', data: { request_id: 'r1', id_project: P } }), 'request_removed');
        expect(c.prev).toEqual(wire(data));
        const t3 = await read(`/${P}/requests/r1/messages`, 'u1');
        expect(t3.request).toBeNull();
        expect(t3.messages ?? []).toEqual([]);
        await member('u1', 'owner');
        expect(await requestIds(`/${P}/requests`, 'u1')).toEqual([]);
      });

      it('request.delete by _id works too; deleting an unknown request applies nothing', async () => {
        await applied({ type: 'request.create', data: f.request(P, 'r1') });
        changeOf(await applied({ type: 'request.delete', data: { _id: 'oid-r1', id_project: P } }), 'request_removed');
        expect((await read(`/${P}/requests/r1`, 'u1')).request).toBeNull();
        const again = await ingest({ type: 'request.delete', data: { _id: 'oid-r1', id_project: P } });
        expect(again.outcome).not.toBe('applied');
        expect((await read(`/${P}/requests`, 'u1')).seq).toBe(2);
      });

      it('a deleted request can be created again, with no old messages', async () => {
        await applied({ type: 'request.create', data: f.request(P, 'r1') });
        await applied({ type: 'message.create', data: f.message(P, 'r1') });
        await applied({ type: 'request.delete', data: { request_id: 'r1', id_project: P } });
        const again = changeOf(await applied({ type: 'request.create', data: f.request(P, 'r1') }), 'request');
        expect(again.prev).toBeNull();
        expect((await read(`/${P}/requests/r1/messages`, 'u1')).messages).toEqual([]);
      });
    });

    // ---- delete tombstones -------------------------------------------------------------------------

    describe('delete tombstones', () => {
      /** The time the delete of a test is accepted at; documents are dated relative to it. */
      let T0: number;
      const at = (ms: number) => new Date(ms).toISOString();
      beforeEach(() => {
        T0 = Date.now();
      });

      it('an update older than its request.delete is stale and brings nothing back; a newer one is applied', async () => {
        await member('u1', 'owner');
        const data = f.request(P, 'r1', { participants: ['u1'], updatedAt: at(T0 - 60_000) });
        await applied({ type: 'request.create', data }, T0 - 60_000);
        await applied({ type: 'request.delete', data: { request_id: 'r1', id_project: P } }, T0);
        // Sent before the delete (updatedAt), received after it.
        const late = { ...data, status: 300, updatedAt: at(T0 - 30_000) };
        expect(await ingest({ type: 'request.update', data: late }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        // "not after" the delete: the same millisecond is stale too
        expect(await ingest({ type: 'request.update', data: { ...late, updatedAt: at(T0) } }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        const t1 = await read(`/${P}/requests`, 'u1');
        expect(t1.requests).toEqual([]);
        expect(t1.seq).toBe(3);
        expect((await read(`/${P}/requests/r1`, 'u1')).request).toBeNull();

        const recreated = { ...data, status: 200, updatedAt: at(T0 + 1) };
        const c = changeOf(await applied({ type: 'request.create', data: recreated }, T0 + 2_000), 'request');
        expect(c.prev).toBeNull();
        expect(await requestIds(`/${P}/requests`, 'u1')).toEqual(['r1']);
        // From here on the stored request decides, as for any request.
        expect(await ingest({ type: 'request.update', data: late }, T0 + 3_000)).toEqual({ outcome: 'stale' });
      });

      it('request.delete by _id keeps an older update out as well', async () => {
        await member('u1', 'owner');
        const data = f.request(P, 'r1', { updatedAt: at(T0 - 60_000) });
        await applied({ type: 'request.create', data }, T0 - 60_000);
        await applied({ type: 'request.delete', data: { _id: 'oid-r1', id_project: P } }, T0);
        const late = { ...data, status: 300, updatedAt: at(T0 - 30_000) };
        expect(await ingest({ type: 'request.update', data: late }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        expect((await read(`/${P}/requests/r1`, 'u1')).request).toBeNull();
        expect(await requestIds(`/${P}/requests`, 'u1')).toEqual([]);
      });

      it('a delete of a request never seen is a duplicate, and still keeps its older create out', async () => {
        await member('u1', 'owner');
        expect(await ingest({ type: 'request.delete', data: { request_id: 'r1', id_project: P } }, T0)).toEqual({ outcome: 'duplicate' });
        expect(await ingest({ type: 'request.delete', data: { _id: 'oid-r2', id_project: P } }, T0)).toEqual({ outcome: 'duplicate' });
        const r1 = f.request(P, 'r1', { updatedAt: at(T0 - 30_000) });
        const r2 = f.request(P, 'r2', { updatedAt: at(T0 - 30_000) });
        expect(await ingest({ type: 'request.create', data: r1 }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        expect(await ingest({ type: 'request.create', data: r2 }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        expect((await read(`/${P}/requests/r1`, 'u1')).request).toBeNull();
        expect((await read(`/${P}/requests/r2`, 'u1')).request).toBeNull();
        expect((await read(`/${P}/requests`, 'u1')).seq).toBe(1);
        await applied({ type: 'request.create', data: { ...r2, updatedAt: at(T0 + 500) } }, T0 + 2_000);
        expect(await requestIds(`/${P}/requests`, 'u1')).toEqual(['r2']);
      });

      it('a create without updatedAt cannot be compared with the delete and is applied', async () => {
        await ingest({ type: 'request.delete', data: { request_id: 'r1', id_project: P } }, T0);
        const undated: Record<string, unknown> = f.request(P, 'r1');
        delete undated.updatedAt;
        await applied({ type: 'request.create', data: undated }, T0 + 1_000);
        expect((await read(`/${P}/requests/r1`, 'u1')).request).toMatchObject({ request_id: 'r1' });
      });

      it('a project_user update older than its project_user.delete is stale: the membership is not restored', async () => {
        const pu = f.projectUser(P, 'u1', 'owner', { updatedAt: at(T0 - 60_000) });
        await applied({ type: 'project_user.create', data: pu }, T0 - 60_000);
        await applied({ type: 'request.create', data: f.request(P, 'r1') });
        await applied({ type: 'project_user.delete', data: { _id: pu._id, id_project: P } }, T0);
        const late = { ...pu, role: 'admin', updatedAt: at(T0 - 30_000) };
        expect(await ingest({ type: 'project_user.update', data: late }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        const t1 = await read(`/${P}/requests`, 'u1');
        expect(t1.member).toBeNull();
        expect(t1.requests).toEqual([]);
        expect((await read(`/${P}/project_users/${pu._id}`, 'u2')).target).toBeNull();
        expect((await read(`/${P}/project_users/users/u1`, 'u2')).target).toBeNull();

        const rejoined = { ...pu, updatedAt: at(T0 + 1) };
        const c = changeOf(await applied({ type: 'project_user.update', data: rejoined }, T0 + 2_000), 'project_user');
        expect(c.prev).toBeNull();
        expect((await read(`/${P}/requests`, 'u1')).member).toEqual(rejoined);
      });

      it('a delete of a project_user never seen still keeps its older create out', async () => {
        expect(await ingest({ type: 'project_user.delete', data: { _id: `pu-${P}-u1`, id_project: P } }, T0)).toEqual({
          outcome: 'duplicate',
        });
        const pu = f.projectUser(P, 'u1', 'agent', { updatedAt: at(T0 - 30_000) });
        expect(await ingest({ type: 'project_user.create', data: pu }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        expect((await read(`/${P}/requests`, 'u1')).member).toBeNull();
      });

      it('a tombstone ends after DELETE_TOMBSTONE_TTL_S: an older update applies again, before and after a sweep', async () => {
        const ttlMs = CONTRACT_OPTIONS.tombstoneTtlS * 1000;
        const req = f.request(P, 'r1', { updatedAt: at(T0 - 60_000) });
        const pu = f.projectUser(P, 'u1', 'owner', { updatedAt: at(T0 - 60_000) });
        await applied({ type: 'request.create', data: req }, T0 - 60_000);
        await applied({ type: 'project_user.create', data: pu }, T0 - 60_000);
        await applied({ type: 'request.delete', data: { request_id: 'r1', id_project: P } }, T0);
        await applied({ type: 'project_user.delete', data: { _id: pu._id, id_project: P } }, T0);
        const lateReq = { ...req, status: 300, updatedAt: at(T0 - 30_000) };
        const latePu = { ...pu, role: 'admin', updatedAt: at(T0 - 30_000) };

        clockOffset = ttlMs - 60_000; // a minute before the end
        await model.sweep();
        expect(await ingest({ type: 'request.update', data: lateReq }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        expect(await ingest({ type: 'project_user.update', data: latePu }, T0 + 1_000)).toEqual({ outcome: 'stale' });

        clockOffset = ttlMs + 1_000;
        // Expired but not swept yet: absent all the same.
        await applied({ type: 'request.update', data: lateReq }, T0 + 1_000);
        expect((await read(`/${P}/requests/r1`, 'u1')).request).toMatchObject({ status: 300 });
        // Swept.
        await model.sweep();
        await applied({ type: 'project_user.update', data: latePu }, T0 + 1_000);
        expect((await read(`/${P}/requests`, 'u1')).member).toMatchObject({ role: 'admin' });
      });

      it('a message older than its request.delete is stale: the purged messages stay away, also once the request is re-created', async () => {
        await member('u1', 'owner');
        const data = f.request(P, 'r1', { participants: ['u1'], updatedAt: at(T0 - 60_000) });
        await applied({ type: 'request.create', data }, T0 - 60_000);
        const m1 = f.message(P, 'r1', { createdAt: at(T0 - 50_000), updatedAt: at(T0 - 50_000) });
        await applied({ type: 'message.create', data: m1 }, T0 - 50_000);
        await applied({ type: 'request.delete', data: { request_id: 'r1', id_project: P } }, T0);
        // Sent before the delete, received after it: an update of a purged message, a message never seen.
        const lateUpdate = { ...m1, status: 300, updatedAt: at(T0 - 30_000) };
        const lateCreate = f.message(P, 'r1', { createdAt: at(T0 - 20_000), updatedAt: at(T0) });
        expect(await ingest({ type: 'message.update', data: lateUpdate }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        expect(await ingest({ type: 'message.create', data: lateCreate }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        const t3 = await read(`/${P}/requests/r1/messages`, 'u1');
        expect(t3.messages).toEqual([]);
        expect(t3.seq).toBe(4);

        const recreated = { ...data, updatedAt: at(T0 + 1) };
        await applied({ type: 'request.create', data: recreated }, T0 + 2_000);
        const after = await read(`/${P}/requests/r1/messages`, 'u1');
        expect(after.request).toMatchObject({ request_id: 'r1' });
        expect(after.messages).toEqual([]);
      });

      it('a message dated after its request.delete is applied, and the request stays deleted for older updates', async () => {
        await member('u1', 'owner');
        const data = f.request(P, 'r1', { participants: ['u1'], updatedAt: at(T0 - 60_000) });
        await applied({ type: 'request.create', data }, T0 - 60_000);
        await applied({ type: 'request.delete', data: { request_id: 'r1', id_project: P } }, T0);
        // Created before the delete, updated after it: the update's time counts.
        const m = f.message(P, 'r1', { createdAt: at(T0 - 10_000), updatedAt: at(T0 + 1) });
        const c = changeOf(await applied({ type: 'message.create', data: m }, T0 + 1_000), 'message');
        expect(c).toMatchObject({ method: 'CREATE', message: m });
        expect((await read(`/${P}/requests/r1/messages`, 'u1')).messages).toEqual([m]);
        // A message does not re-create its request: the tombstone still keeps the older update out.
        const late = { ...data, status: 300, updatedAt: at(T0 - 30_000) };
        expect(await ingest({ type: 'request.update', data: late }, T0 + 2_000)).toEqual({ outcome: 'stale' });
        expect((await read(`/${P}/requests/r1`, 'u1')).request).toBeNull();
      });

      it('a message of a request deleted while unknown is stale when it is not after the delete', async () => {
        await member('u1', 'owner');
        expect(await ingest({ type: 'request.delete', data: { request_id: 'r1', id_project: P } }, T0)).toEqual({ outcome: 'duplicate' });
        const old = f.message(P, 'r1', { createdAt: at(T0 - 30_000), updatedAt: at(T0 - 30_000) });
        expect(await ingest({ type: 'message.create', data: old }, T0 + 1_000)).toEqual({ outcome: 'stale' });
        const t3 = await read(`/${P}/requests/r1/messages`, 'u1');
        expect(t3.messages).toEqual([]);
        expect(t3.seq).toBe(1);
      });

      it('tombstones are per project', async () => {
        await ingest({ type: 'request.delete', data: { request_id: 'r1', id_project: Q } }, T0);
        await applied({ type: 'request.create', data: f.request(P, 'r1', { updatedAt: at(T0 - 30_000) }) }, T0 + 1_000);
      });
    });

    // ---- T1 ----------------------------------------------------------------------------------------

    describe('T1 snapshot', () => {
      it('holds only open requests: status 100/200/300, not preflight, not draft', async () => {
        await member('u1', 'owner');
        const docs = [
          f.request(P, 's50', { status: 50 }),
          f.request(P, 's100', { status: 100 }),
          f.request(P, 's150', { status: 150 }),
          f.request(P, 's200', { status: 200 }),
          f.request(P, 's300', { status: 300 }),
          f.request(P, 's1000', { status: 1000 }),
          f.request(P, 'preflight', { status: 100, preflight: true }),
          f.request(P, 'draft', { status: 200, draft: true }),
          f.request(P, 'draft-null', { status: 200, draft: null }),
        ];
        for (const data of docs) await applied({ type: 'request.create', data });
        expect((await requestIds(`/${P}/requests`, 'u1')).sort()).toEqual(['draft-null', 's100', 's200', 's300']);
      });

      it('is ordered newest updatedAt first, whatever the arrival order', async () => {
        await member('u1', 'owner');
        const a = f.request(P, 'ra');
        const b = f.request(P, 'rb');
        const c = f.request(P, 'rc');
        for (const data of [c, a, b]) await applied({ type: 'request.create', data });
        expect(await requestIds(`/${P}/requests`, 'u1')).toEqual(['rc', 'rb', 'ra']);
        await applied({ type: 'request.update', data: { ...a, updatedAt: f.nextTime() } });
        expect(await requestIds(`/${P}/requests`, 'u1')).toEqual(['ra', 'rc', 'rb']);
      });

      it('is limited to the newest WS_HISTORY_REQUESTS_LIMIT', async () => {
        await member('u1', 'owner');
        const ids: string[] = [];
        for (let i = 0; i < CONTRACT_OPTIONS.history.requests + 3; i++) {
          ids.push(`r${i}`);
          await applied({ type: 'request.create', data: f.request(P, `r${i}`) });
        }
        expect(await requestIds(`/${P}/requests`, 'u1')).toEqual(ids.reverse().slice(0, CONTRACT_OPTIONS.history.requests));
      });

      it('holds the requests in wire shape', async () => {
        await member('u1', 'owner');
        const data = f.request(P, 'r1', { agents: ['u2'] });
        await applied({ type: 'request.create', data });
        expect((await read(`/${P}/requests`, 'u1')).requests).toEqual([wire(data)]);
      });

      it('holds only what the viewer may see', async () => {
        await member('owner', 'owner');
        await member('agent', 'agent');
        await member('sup', 'supervisor');
        await member('reader', 'teammate', { roleType: 1, rolePermissions: ['request_read_group'] });
        await applied({ type: 'request.create', data: f.request(P, 'assigned-agent', { agents: ['agent'] }) });
        await applied({ type: 'request.create', data: f.request(P, 'agent-participant', { participants: ['agent'] }) });
        await applied({ type: 'request.create', data: f.request(P, 'sup-participant', { participants: ['sup'], agents: ['reader'] }) });
        await applied({ type: 'request.create', data: f.request(P, 'sup-assigned', { agents: ['sup'] }) });
        await applied({ type: 'request.create', data: f.request(P, 'nobody', { status: 100 }) });

        expect((await requestIds(`/${P}/requests`, 'owner')).sort()).toEqual(
          ['agent-participant', 'assigned-agent', 'nobody', 'sup-assigned', 'sup-participant'].sort(),
        );
        expect((await requestIds(`/${P}/requests`, 'agent')).sort()).toEqual(['agent-participant', 'assigned-agent']);
        expect(await requestIds(`/${P}/requests`, 'sup')).toEqual(['sup-participant']);
        expect(await requestIds(`/${P}/requests`, 'reader')).toEqual(['sup-participant']);
      });

      it('is empty for a non-member, a disabled member and a visitor', async () => {
        await member('gone', 'owner', { status: 'disabled' });
        await member('visitor', 'user');
        await applied({ type: 'request.create', data: f.request(P, 'r1', { participants: ['gone', 'visitor'] }) });
        expect(await requestIds(`/${P}/requests`, 'stranger')).toEqual([]);
        expect(await requestIds(`/${P}/requests`, 'gone')).toEqual([]);
        expect(await requestIds(`/${P}/requests`, 'visitor')).toEqual([]);
      });

      it('follows updates: closing removes a request, reopening and reassigning move it', async () => {
        await member('a1', 'agent');
        await member('a2', 'agent');
        const v1 = f.request(P, 'r1', { agents: ['a1'] });
        await applied({ type: 'request.create', data: v1 });
        expect(await requestIds(`/${P}/requests`, 'a1')).toEqual(['r1']);
        await applied({ type: 'request.update', data: f.request(P, 'r1', { agents: ['a2'] }) });
        expect(await requestIds(`/${P}/requests`, 'a1')).toEqual([]);
        expect(await requestIds(`/${P}/requests`, 'a2')).toEqual(['r1']);
        await applied({ type: 'request.update', data: f.request(P, 'r1', { agents: ['a2'], status: 1000 }) });
        expect(await requestIds(`/${P}/requests`, 'a2')).toEqual([]);
        await applied({ type: 'request.update', data: f.request(P, 'r1', { agents: ['a2'], status: 200 }) });
        expect(await requestIds(`/${P}/requests`, 'a2')).toEqual(['r1']);
        await applied({ type: 'request.update', data: f.request(P, 'r1', { agents: ['a2'], draft: true }) });
        expect(await requestIds(`/${P}/requests`, 'a2')).toEqual([]);
      });

      it('follows the member: a role change applies to the next read', async () => {
        await member('u1', 'agent');
        await applied({ type: 'request.create', data: f.request(P, 'r1', { agents: ['u2'] }) });
        expect(await requestIds(`/${P}/requests`, 'u1')).toEqual([]);
        await member('u1', 'admin');
        expect(await requestIds(`/${P}/requests`, 'u1')).toEqual(['r1']);
      });

      it('reads by many members at one seq agree, and the next change shows in every later read', async () => {
        await member('o1', 'owner');
        await member('o2', 'admin');
        await member('a1', 'agent', { role: 'agent' });
        const r1 = f.request(P, 'r1', { participants: ['a1'] });
        const r2 = f.request(P, 'r2', { participants: ['x'] });
        for (const data of [r1, r2]) await applied({ type: 'request.create', data });
        // Concurrent reads, as in a reconnect storm; a restricted member reading among them sees only its own.
        const [o1, o2, a1, o1again] = await Promise.all([
          read(`/${P}/requests`, 'o1'),
          read(`/${P}/requests`, 'o2'),
          read(`/${P}/requests`, 'a1'),
          read(`/${P}/requests`, 'o1'),
        ]);
        expect(o1.requests!.map((r) => r.request_id)).toEqual(['r2', 'r1']);
        expect(o2.requests).toEqual(o1.requests);
        expect(o1again.requests).toEqual(o1.requests);
        expect(a1.requests!.map((r) => r.request_id)).toEqual(['r1']);
        expect(await requestIds(`/${P}/requests`, 'o2')).toEqual(['r2', 'r1']);
        const newer = { ...r1, status: 200, updatedAt: f.nextTime() };
        await applied({ type: 'request.update', data: newer });
        for (const user of ['o1', 'o2']) {
          const after = await read(`/${P}/requests`, user);
          expect(after.requests!.map((r) => [r.request_id, r.status])).toEqual([
            ['r1', 200],
            ['r2', r2.status],
          ]);
        }
        await applied({ type: 'request.update', data: { ...newer, status: 1000, updatedAt: f.nextTime() } });
        expect(await requestIds(`/${P}/requests`, 'o1')).toEqual(['r2']);
      });

      it('does not mix projects', async () => {
        await member('u1', 'owner');
        await applied({ type: 'request.create', data: f.request(Q, 'rq') });
        await applied({ type: 'request.create', data: f.request(P, 'rp') });
        expect(await requestIds(`/${P}/requests`, 'u1')).toEqual(['rp']);
        expect(await requestIds(`/${Q}/requests`, 'u1')).toEqual([]);
      });
    });

    // ---- messages ----------------------------------------------------------------------------------

    describe('messages', () => {
      it('message.create is a CREATE change, a newer version of it an UPDATE', async () => {
        const m = f.message(P, 'r1', { status: 100 });
        const created = changeOf(await applied({ type: 'message.create', data: m }), 'message');
        expect(created).toMatchObject({ method: 'CREATE', message: m });
        const seen = { ...m, status: 300, updatedAt: f.nextTime() };
        const updated = changeOf(await applied({ type: 'message.update', data: seen }), 'message');
        expect(updated).toMatchObject({ method: 'UPDATE', message: seen });
        expect((await read(`/${P}/requests/r1/messages`, 'u1')).messages).toEqual([seen]);
      });

      it('a repeated message is a duplicate, an older version is stale', async () => {
        const m = f.message(P, 'r1');
        const newer = { ...m, status: 300, updatedAt: f.nextTime() };
        await applied({ type: 'message.create', data: m });
        expect(await ingest({ type: 'message.create', data: m })).toEqual({ outcome: 'duplicate' });
        await applied({ type: 'message.update', data: newer });
        expect(await ingest({ type: 'message.update', data: m })).toEqual({ outcome: 'stale' });
        expect((await read(`/${P}/requests/r1/messages`, 'u1')).messages).toEqual([newer]);
      });

      it('keeps the newest WS_HISTORY_MESSAGES_LIMIT in ascending createdAt, whatever the arrival order', async () => {
        const limit = CONTRACT_OPTIONS.history.messages;
        const msgs = Array.from({ length: limit + 3 }, (_, i) => f.message(P, 'r1', { text: `m${i}` }));
        const arrival = [...msgs.slice(3), ...msgs.slice(0, 3)].reverse();
        for (const data of arrival) await applied({ type: 'message.create', data });
        const texts = ((await read(`/${P}/requests/r1/messages`, 'u1')).messages ?? []).map((m) => m.text);
        expect(texts).toEqual(msgs.slice(3).map((m) => m.text));
      });

      it('keeps messages per request', async () => {
        await applied({ type: 'message.create', data: f.message(P, 'r1', { text: 'one' }) });
        await applied({ type: 'message.create', data: f.message(P, 'r2', { text: 'two' }) });
        expect(((await read(`/${P}/requests/r1/messages`, 'u1')).messages ?? []).map((m) => m.text)).toEqual(['one']);
        expect(((await read(`/${P}/requests/r2/messages`, 'u1')).messages ?? []).map((m) => m.text)).toEqual(['two']);
      });

      it('the live change keeps an embedded request, the stored message does not', async () => {
        const m = f.message(P, 'r1', { request: f.request(P, 'r1') });
        const c = changeOf(await applied({ type: 'message.create', data: m }), 'message');
        expect(c.message).toHaveProperty('request');
        const stored = (await read(`/${P}/requests/r1/messages`, 'u1')).messages ?? [];
        expect(stored).toHaveLength(1);
        expect(stored[0]).not.toHaveProperty('request');
        expect(stored[0]).toMatchObject({ _id: m._id, text: m.text });
      });

      it('T3 read carries the request along with the messages', async () => {
        await applied({ type: 'request.create', data: f.request(P, 'r1') });
        await applied({ type: 'message.create', data: f.message(P, 'r1') });
        const r = await read(`/${P}/requests/r1/messages`, 'u1');
        expect(r.request).toMatchObject({ request_id: 'r1' });
        expect(r.messages).toHaveLength(1);
      });
    });

    // ---- events ------------------------------------------------------------------------------------

    describe('events', () => {
      const names = (r: TopicRead) => (r.events ?? []).map((e) => e.attributes as { n: number }).map((a) => a.n);

      it('event.emit is applied as an event change', async () => {
        const e = f.event(P, 'pu-1', 'typing');
        expect(changeOf(await applied({ type: 'event.emit', data: e }), 'event').event).toEqual(e);
      });

      it('snapshots are newest first and capped, per project_user and per name', async () => {
        const limit = CONTRACT_OPTIONS.history.events;
        for (let n = 0; n < limit + 2; n++) {
          await applied({ type: 'event.emit', data: f.event(P, 'pu-1', n % 2 === 0 ? 'even' : 'odd', { attributes: { n } }) });
        }
        await applied({ type: 'event.emit', data: f.event(P, 'pu-2', 'even', { attributes: { n: 100 } }) });
        const all = Array.from({ length: limit + 2 }, (_, n) => n).reverse();
        expect(names(await read(`/${P}/events/pu-1`, 'u1'))).toEqual(all.slice(0, limit));
        expect(names(await read(`/${P}/events/pu-1/even`, 'u1'))).toEqual(all.filter((n) => n % 2 === 0).slice(0, limit));
        expect(names(await read(`/${P}/events/pu-1/odd`, 'u1'))).toEqual(all.filter((n) => n % 2 === 1).slice(0, limit));
        expect(names(await read(`/${P}/events/pu-2`, 'u1'))).toEqual([100]);
        expect((await read(`/${P}/events/pu-3`, 'u1')).events).toEqual([]);
      });

      it('orders by createdAt, not by arrival', async () => {
        const early = f.event(P, 'pu-1', 'x', { attributes: { n: 1 } });
        const late = f.event(P, 'pu-1', 'x', { attributes: { n: 2 } });
        await applied({ type: 'event.emit', data: late });
        await applied({ type: 'event.emit', data: early });
        expect(names(await read(`/${P}/events/pu-1`, 'u1'))).toEqual([2, 1]);
      });

      it('a populated project_user is keyed by its _id', async () => {
        await applied({
          type: 'event.emit',
          data: f.event(P, 'pu-1', 'x', { project_user: { _id: 'pu-1', role: 'agent' }, attributes: { n: 7 } }),
        });
        expect(names(await read(`/${P}/events/pu-1`, 'u1'))).toEqual([7]);
      });

      it('the same event twice is a duplicate', async () => {
        const e = f.event(P, 'pu-1', 'x');
        await applied({ type: 'event.emit', data: e });
        expect(await ingest({ type: 'event.emit', data: e })).toEqual({ outcome: 'duplicate' });
        expect((await read(`/${P}/events/pu-1`, 'u1')).events).toHaveLength(1);
      });

      it('events older than EVENTS_TTL_S are not in snapshots', async () => {
        const old = new Date(Date.now() - 2 * CONTRACT_OPTIONS.eventsTtlS * 1000).toISOString();
        await ingest({ type: 'event.emit', data: f.event(P, 'pu-1', 'x', { createdAt: old, attributes: { n: 1 } }) });
        await applied({ type: 'event.emit', data: f.event(P, 'pu-1', 'x', { attributes: { n: 2 } }) });
        expect(names(await read(`/${P}/events/pu-1`, 'u1'))).toEqual([2]);
        expect(names(await read(`/${P}/events/pu-1/x`, 'u1'))).toEqual([2]);
      });
    });

    // ---- project users -----------------------------------------------------------------------------

    describe('project users', () => {
      it('the first upsert is a change from null to the project_user with isBusy', async () => {
        await applied({ type: 'project.update', data: f.project(P, { settings: { max_agent_assigned_chat: 1 } }) });
        const data = f.projectUser(P, 'u1', 'agent', { number_assigned_requests: 1 });
        const c = changeOf(await applied({ type: 'project_user.create', data }), 'project_user');
        expect(c.prev).toBeNull();
        expect(c.next).toEqual({ ...data, isBusy: true });
        expect(c.view).toBeUndefined();
      });

      it('reads: member is the caller (any status), T4 by _id, T5 by id_user or uuid_user', async () => {
        const data = f.projectUser(P, 'u1', 'agent', { uuid_user: 'uuid-1' });
        await applied({ type: 'project_user.create', data });
        await applied({ type: 'project_user.create', data: f.projectUser(P, 'u2', 'agent', { status: 'disabled' }) });
        expect((await read(`/${P}/requests`, 'u1')).member).toEqual(data);
        expect((await read(`/${P}/requests`, 'u2')).member).toMatchObject({ _id: `pu-${P}-u2`, status: 'disabled' });
        expect((await read(`/${P}/requests`, 'u3')).member).toBeNull();
        expect((await read(`/${Q}/requests`, 'u1')).member).toBeNull();
        expect((await read(`/${P}/project_users/pu-${P}-u1`, 'u1')).target).toEqual(data);
        expect((await read(`/${P}/project_users/users/u1`, 'u2')).target).toEqual(data);
        expect((await read(`/${P}/project_users/users/uuid-1`, 'u2')).target).toEqual(data);
        expect((await read(`/${P}/project_users/users/u9`, 'u1')).target).toBeNull();
        expect((await read(`/${P}/project_users/nope`, 'u1')).target).toBeNull();
      });

      it('readMembers: every user id with the project_user a subscribe of that user finds, at the read seq', async () => {
        await applied({ type: 'project.update', data: f.project(P) });
        await applied({ type: 'project_user.create', data: f.projectUser(P, 'u1', 'owner') });
        await applied({ type: 'project_user.create', data: f.projectUser(P, 'u2', 'agent', { status: 'disabled' }) });
        // A second project_user naming u1 takes the user id (the last write holds it); deleting it lets u1 have none.
        await applied({ type: 'project_user.create', data: f.projectUser(P, 'u1', 'agent', { _id: 'pu-other' }) });
        await applied({ type: 'project_user.create', data: f.projectUser(P, 'u3', 'agent') });
        await applied({ type: 'project_user.delete', data: { _id: `pu-${P}-u3`, id_project: P } });
        const all = await model.readMembers(P);
        const subscribe = await read(`/${P}/requests`, 'u1');
        expect(all.seq).toBe(subscribe.seq);
        expect(all.project).toEqual(subscribe.project);
        expect([...all.members.keys()].sort()).toEqual(['u1', 'u2']);
        for (const u of ['u1', 'u2']) expect(all.members.get(u)).toEqual((await read(`/${P}/requests`, u)).member);
        expect(all.members.get('u1')).toMatchObject({ _id: 'pu-other' });
        const none = await model.readMembers(Q);
        expect(none).toEqual({ seq: 0, project: null, members: new Map() });
      });

      it('a populated id_user is resolved to the user id', async () => {
        const data = f.projectUser(P, 'u1', 'agent', { id_user: { _id: 'u1', firstname: 'A', email: 'a@example.test' } });
        await applied({ type: 'project_user.update', data: { updatedProject_userPopulated: data, req: {} } });
        expect((await read(`/${P}/requests`, 'u1')).member).toEqual(data);
        expect((await read(`/${P}/project_users/users/u1`, 'u1')).target).toEqual(data);
      });

      it('an update with the same scope carries no view', async () => {
        const v1 = f.projectUser(P, 'u1', 'agent');
        await applied({ type: 'project_user.create', data: v1 });
        const c = changeOf(
          await applied({ type: 'project_user.update', data: { ...v1, user_available: false, updatedAt: f.nextTime() } }),
          'project_user',
        );
        expect(c.prev).toMatchObject({ user_available: true });
        expect(c.next).toMatchObject({ user_available: false });
        expect(c.view).toBeUndefined();
      });

      it('a wider scope yields a view with the new T1 snapshot and nothing removed', async () => {
        await member('u1', 'agent');
        await applied({ type: 'request.create', data: f.request(P, 'mine', { agents: ['u1'] }) });
        await applied({ type: 'request.create', data: f.request(P, 'other', { agents: ['u2'] }) });
        await applied({ type: 'request.create', data: f.request(P, 'closed', { status: 1000 }) });
        const c = changeOf(await applied({ type: 'project_user.update', data: f.projectUser(P, 'u1', 'owner') }), 'project_user');
        expect(c.view).toBeDefined();
        expect(c.view!.removed).toEqual([]);
        expect(c.view!.snapshot.map((r) => r.request_id)).toEqual(['other', 'mine']);
      });

      it('a narrower scope yields the stubs of the requests that left the view, and the new snapshot', async () => {
        await member('u1', 'admin');
        await applied({ type: 'request.create', data: f.request(P, 'assigned', { agents: ['u1'] }) });
        await applied({ type: 'request.create', data: f.request(P, 'other', { agents: ['u2'] }) });
        await applied({ type: 'request.create', data: f.request(P, 'participating', { participants: ['u1'] }) });
        const c = changeOf(await applied({ type: 'project_user.update', data: f.projectUser(P, 'u1', 'agent') }), 'project_user');
        expect(c.view!.removed).toEqual([{ _id: 'oid-other', id: 'oid-other', request_id: 'other' }]);
        expect(c.view!.snapshot.map((r) => r.request_id)).toEqual(['participating', 'assigned']);

        const c2 = changeOf(
          await applied({ type: 'project_user.update', data: f.projectUser(P, 'u1', 'agent', { permissions: ['lead_read'] }) }),
          'project_user',
        );
        expect(c2.view!.removed).toEqual([{ _id: 'oid-assigned', id: 'oid-assigned', request_id: 'assigned' }]);
        expect(c2.view!.snapshot.map((r) => r.request_id)).toEqual(['participating']);
      });

      it('the view snapshot is limited like a T1 snapshot', async () => {
        await member('u1', 'agent');
        for (let i = 0; i < CONTRACT_OPTIONS.history.requests + 2; i++) {
          await applied({ type: 'request.create', data: f.request(P, `r${i}`) });
        }
        const c = changeOf(await applied({ type: 'project_user.update', data: f.projectUser(P, 'u1', 'owner') }), 'project_user');
        expect(c.view!.snapshot).toHaveLength(CONTRACT_OPTIONS.history.requests);
        expect(c.view!.snapshot[0]!.request_id).toBe(`r${CONTRACT_OPTIONS.history.requests + 1}`);
      });

      it('losing membership carries no view (the subscriptions end instead)', async () => {
        await member('u1', 'owner');
        await applied({ type: 'request.create', data: f.request(P, 'r1') });
        const c = changeOf(
          await applied({ type: 'project_user.update', data: f.projectUser(P, 'u1', 'owner', { status: 'disabled' }) }),
          'project_user',
        );
        expect(c.next).toMatchObject({ status: 'disabled' });
        expect(c.view).toBeUndefined();
      });

      it('project_user.delete is a change to null and removes every way to find it', async () => {
        const data = f.projectUser(P, 'u1', 'agent', { uuid_user: 'uuid-1' });
        await applied({ type: 'project_user.create', data });
        const c = changeOf(await applied({ type: 'project_user.delete', data: { _id: data._id, id_project: P } }), 'project_user');
        expect(c.prev).toMatchObject({ _id: data._id, isBusy: expect.any(Boolean) });
        expect(c.next).toBeNull();
        expect((await read(`/${P}/requests`, 'u1')).member).toBeNull();
        expect((await read(`/${P}/project_users/${data._id}`, 'u1')).target).toBeNull();
        expect((await read(`/${P}/project_users/users/u1`, 'u2')).target).toBeNull();
        expect((await read(`/${P}/project_users/users/uuid-1`, 'u2')).target).toBeNull();
        const again = await ingest({ type: 'project_user.delete', data: { _id: data._id, id_project: P } });
        expect(again.outcome).not.toBe('applied');
      });

      it('deleting a membership the user already re-joined under a new _id keeps the new one, lookups and scope', async () => {
        const old = f.projectUser(P, 'u1', 'agent', { _id: 'pu-old', uuid_user: 'uuid-1' });
        const renewed = f.projectUser(P, 'u1', 'owner', { _id: 'pu-new', uuid_user: 'uuid-1' });
        await applied({ type: 'project_user.create', data: old });
        await applied({ type: 'request.create', data: f.request(P, 'r-other', { participants: ['someone-else'] }) });
        await applied({ type: 'project_user.create', data: renewed });
        await applied({ type: 'project_user.delete', data: { _id: old._id, id_project: P } });
        const t1 = await read(`/${P}/requests`, 'u1');
        expect(t1.member).toEqual(renewed);
        // the owner's scope: requests it takes no part in are listed
        expect(t1.requests!.map((r) => r.request_id)).toEqual(['r-other']);
        expect((await read(`/${P}/project_users/users/u1`, 'u2')).target).toEqual(renewed);
        expect((await read(`/${P}/project_users/users/uuid-1`, 'u2')).target).toEqual(renewed);
      });

      it('a stale project_user update changes nothing', async () => {
        const v1 = f.projectUser(P, 'u1', 'agent');
        const v2 = { ...v1, role: 'admin', updatedAt: f.nextTime() };
        await applied({ type: 'project_user.update', data: v2 });
        expect(await ingest({ type: 'project_user.update', data: v1 })).toEqual({ outcome: 'stale' });
        expect((await read(`/${P}/requests`, 'u1')).member).toMatchObject({ role: 'admin' });
      });
    });

    // ---- project -------------------------------------------------------------------------------------

    describe('project', () => {
      it('project.update is stored and read with every topic of the project', async () => {
        const data = f.project(P, { name: 'Acme' });
        const c = changeOf(await applied({ type: 'project.update', data }), 'project');
        expect(c).toMatchObject({ prev: null, next: data });
        expect((await read(`/${P}/bots/b1`, 'u1')).project).toEqual(data);
        expect((await read(`/${Q}/bots/b1`, 'u1')).project).toBeNull();
      });

      it('yields the members whose isBusy changed, with their new isBusy', async () => {
        await applied({ type: 'project.update', data: f.project(P, { settings: { max_agent_assigned_chat: 3 } }) });
        await member('idle', 'agent', { number_assigned_requests: 0 });
        await member('two', 'agent', { number_assigned_requests: 2 });
        await member('own-limit', 'agent', { number_assigned_requests: 2, max_assigned_chat: 5 });
        const c = changeOf(
          await applied({ type: 'project.update', data: f.project(P, { settings: { max_agent_assigned_chat: 2 } }) }),
          'project',
        );
        expect(c.busyChanged.map((pu) => [pu._id, pu.isBusy])).toEqual([[`pu-${P}-two`, true]]);
        expect(c.prev).toMatchObject({ settings: { max_agent_assigned_chat: 3 } });

        const same = changeOf(
          await applied({ type: 'project.update', data: f.project(P, { name: 'Renamed', settings: { max_agent_assigned_chat: 2 } }) }),
          'project',
        );
        expect(same.busyChanged).toEqual([]);

        const unlimited = changeOf(
          await applied({ type: 'project.update', data: f.project(P, { settings: { max_agent_assigned_chat: -1 } }) }),
          'project',
        );
        expect(unlimited.busyChanged.map((pu) => [pu._id, pu.isBusy])).toEqual([[`pu-${P}-two`, false]]);
      });

      it('project_user changes see the current project limit', async () => {
        await applied({ type: 'project.update', data: f.project(P, { settings: { max_agent_assigned_chat: 1 } }) });
        const c = changeOf(await member('u1', 'agent', { number_assigned_requests: 1 }).then(expectApplied), 'project_user');
        expect(c.next).toMatchObject({ isBusy: true });
      });

      it('a stale project.update is stale', async () => {
        const older = f.project(P, { status: 100 });
        const newer = f.project(P, { status: 0 });
        await applied({ type: 'project.update', data: newer });
        expect(await ingest({ type: 'project.update', data: older })).toEqual({ outcome: 'stale' });
        expect((await read(`/${P}/requests`, 'u1')).project).toMatchObject({ status: 0 });
      });
    });

    // ---- bots --------------------------------------------------------------------------------------

    describe('bots', () => {
      it('faqbot.update is stored without its secret and read on T7', async () => {
        const data = f.bot(P, 'b1', { secret: 'do-not-leak' });
        const c = changeOf(await applied({ type: 'faqbot.update', data }), 'bot');
        expect(c.bot).not.toHaveProperty('secret');
        expect(c.bot).toMatchObject({ _id: 'b1', name: 'Bot b1' });
        const stored = (await read(`/${P}/bots/b1`, 'u1')).bot;
        expect(stored).toMatchObject({ _id: 'b1', name: 'Bot b1' });
        expect(stored).not.toHaveProperty('secret');
        expect((await read(`/${P}/bots/b2`, 'u1')).bot ?? null).toBeNull();
      });

      it('bot updates follow staleness', async () => {
        const v1 = f.bot(P, 'b1');
        const v2 = { ...v1, name: 'Renamed', updatedAt: f.nextTime() };
        await applied({ type: 'faqbot.update', data: v1 });
        expect(await ingest({ type: 'faqbot.update', data: v1 })).toEqual({ outcome: 'duplicate' });
        await applied({ type: 'faqbot.update', data: v2 });
        expect(await ingest({ type: 'faqbot.update', data: v1 })).toEqual({ outcome: 'stale' });
        expect((await read(`/${P}/bots/b1`, 'u1')).bot).toMatchObject({ name: 'Renamed' });
      });
    });

    // ---- dedupe ids --------------------------------------------------------------------------------

    describe('event id dedupe', () => {
      it('an id is a duplicate once remembered, and only that id', async () => {
        const id = `${P}-evt-1`;
        expect(await model.isDuplicateEventId(id)).toBe(false);
        await model.rememberEventId(id);
        expect(await model.isDuplicateEventId(id)).toBe(true);
        expect(await model.isDuplicateEventId(`${P}-evt-2`)).toBe(false);
      });
    });

    function expectApplied(r: ApplyOutcome): Envelope {
      if (r.outcome !== 'applied') throw new Error(`expected applied, got ${r.outcome}`);
      return r.envelope;
    }
  });
}
