import { Envelope } from '../domain/changes';
import { validateEnvelope } from '../ingest/event-validation';
import { parseTopic } from '../protocol/topic-grammar';
import { MemoryReadModel } from '../store/memory/memory-read-model';
import * as f from '../../test/helpers/factories';
import { Random } from '../../test/helpers/random';
import { ProjectView } from './project-view';

const P = 'pv';
const LIMIT = 8;
const STORE_OPTIONS = { history: { requests: LIMIT, messages: 50, events: 20 }, closedRequestTtlS: 60, eventsTtlS: 3600, dedupeTtlS: 60 };
const REQUESTS = parseTopic(`/${P}/requests`)!;
const STATUSES = [100, 200, 300, 1000]; // unassigned, served, assigned… and closed: in and out of the list

/**
 * The view against the store it stands in for: every answer it gives must be the store's answer at the same seq
 * (the memory store is the reference; the Redis store answers the same, as the read-model contract checks).
 */
describe('ProjectView', () => {
  async function setup() {
    const store = new MemoryReadModel(STORE_OPTIONS);
    const apply = async (raw: unknown): Promise<Envelope | null> => {
      const v = validateEnvelope(raw, 0, { maxEventBytes: 1 << 20 });
      const r = await store.apply(v.event, Date.now());
      return r.outcome === 'applied' ? r.envelope : null;
    };
    await apply({ type: 'project.update', data: f.project(P) });
    await apply({ type: 'project_user.update', data: f.projectUser(P, 'owner', 'owner') });
    await apply({ type: 'project_user.update', data: f.projectUser(P, 'agent', 'agent') });
    return { store, apply };
  }

  it.each([1, 2, 3, 4, 5, 6])('answers /P/requests exactly as the store does while requests come, move and go (seed %i)', async (seed) => {
    const rnd = new Random(seed);
    const { store, apply } = await setup();
    const update = (i: number, v: number) =>
      f.request(P, `r${i}`, {
        status: rnd.pick(STATUSES),
        __v: v,
        updatedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, rnd.int(40))).toISOString(),
      });
    const versions = new Map<number, number>();
    // A few requests before the view starts, sometimes fewer than the limit (a whole list), sometimes more.
    for (let i = 0; i < rnd.between(0, 2 * LIMIT); i++) {
      versions.set(i, 1);
      await apply({ type: 'request.create', data: update(i, 1) });
    }
    const first = await store.readForSubscribe(REQUESTS, 'owner');
    const view = ProjectView.from(first, REQUESTS, 'owner', first.seq, LIMIT)!;
    let answered = 0;
    let reads = 0;
    for (let step = 0; step < 300; step++) {
      const i = rnd.int(3 * LIMIT);
      const v = (versions.get(i) ?? 0) + 1;
      let env: Envelope | null;
      if (rnd.chance(0.1) && versions.has(i)) {
        versions.delete(i);
        env = await apply({ type: 'request.delete', data: { request_id: `r${i}`, id_project: P } });
      } else {
        versions.set(i, v);
        env = await apply({ type: v === 1 ? 'request.create' : 'request.update', data: update(i, v) });
      }
      if (!env) continue;
      expect(view.follow(env)).toBe(true);
      const truth = await store.readForSubscribe(REQUESTS, 'owner');
      const mine = view.read(REQUESTS, 'owner');
      if (mine) {
        answered++;
        expect(mine.seq).toBe(truth.seq);
        expect(mine.requests!.map((r) => `${r.request_id}@${r.__v}`)).toEqual(truth.requests!.map((r) => `${r.request_id}@${r.__v}`));
      } else {
        // Forgotten: the next subscribe reads the store, and the view learns from it.
        reads++;
        view.learn(truth, REQUESTS, 'owner');
        expect(view.read(REQUESTS, 'owner')!.requests).toEqual(truth.requests);
      }
    }
    // It must mostly answer by itself, or it is of no use.
    expect(answered).toBeGreaterThan(reads);
  });

  it('moves the memberships it knows as the store does: a demotion, a removal, a newcomer', async () => {
    const { store, apply } = await setup();
    const first = await store.readForSubscribe(REQUESTS, 'owner');
    const view = ProjectView.from(first, REQUESTS, 'owner', null, LIMIT)!;
    expect(view.read(REQUESTS, 'owner')).toBeDefined();
    expect(view.read(REQUESTS, 'agent')).toBeUndefined(); // never read: not known
    const demoted = await apply({ type: 'project_user.update', data: f.projectUser(P, 'owner', 'agent') });
    expect(view.follow(demoted!)).toBe(true);
    // Known, and an agent: its list is not the see-all list, so the store answers it.
    expect(view.read(REQUESTS, 'owner')).toBeUndefined();
    const removed = await apply({ type: 'project_user.delete', data: { _id: `pu-${P}-owner`, id_project: P } });
    expect(view.follow(removed!)).toBe(true);
    expect(view.read(REQUESTS, 'owner')).toMatchObject({ member: null, requests: [] }); // refused from the view
    const joined = await apply({ type: 'project_user.update', data: f.projectUser(P, 'stranger', 'owner') });
    expect(view.follow(joined!)).toBe(true);
    expect(view.read(REQUESTS, 'stranger')).toMatchObject({ member: { _id: `pu-${P}-stranger`, role: 'owner' } });
  });

  it.each([11, 12, 13, 14])(
    'finds for every user the membership the store finds, once every membership is loaded (seed %i)',
    async (seed) => {
      const rnd = new Random(seed);
      const { store, apply } = await setup();
      const users = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
      const roles = ['owner', 'admin', 'agent', 'supervisor', 'user'];
      let version = 0;
      // Several project_users may name one user id (the last written holds it, as in the stores' index).
      const change = () => {
        const pu = rnd.int(8);
        if (rnd.chance(0.15)) return apply({ type: 'project_user.delete', data: { _id: `pux-${pu}`, id_project: P } });
        const doc = f.projectUser(P, rnd.pick(users), rnd.pick(roles), {
          _id: `pux-${pu}`,
          status: rnd.chance(0.8) ? 'active' : 'disabled',
          updatedAt: new Date(Date.UTC(2026, 0, 1) + ++version * 1000).toISOString(),
        });
        return apply({ type: 'project_user.update', data: doc });
      };
      for (let i = 0; i < 10; i++) await change();
      const first = await store.readForSubscribe(REQUESTS, 'owner');
      const view = ProjectView.from(first, REQUESTS, 'owner', first.seq, LIMIT)!;
      // The load goes out now, and its answer comes with the view behind it (envelopes still on their way) or
      // ahead of it (the view followed changes made after the load was read).
      view.loadingMembers();
      const ahead = rnd.chance(0.5);
      const load = ahead ? null : store.readMembers(P); // the memory store reads at the call
      const later: Envelope[] = [];
      for (let i = 0; i < 5; i++) {
        const env = await change();
        if (!env) continue;
        if (ahead) later.push(env);
        else expect(view.follow(env)).toBe(true);
      }
      view.membersLoaded(await (load ?? store.readMembers(P)));
      for (const env of later) expect(view.follow(env)).toBe(true);
      expect(view.wantsMembers).toBe(false);
      for (let step = 0; step < 60; step++) {
        const env = await change();
        if (env) expect(view.follow(env)).toBe(true);
        for (const u of [...users, 'nobody']) {
          const truth = await store.readForSubscribe(REQUESTS, u);
          const mine = view.read(REQUESTS, u);
          if (truth.member === null || truth.member.status !== 'active' || !['owner', 'admin'].includes(truth.member.role)) {
            // Refused, or a restricted list: the view answers only the refusal.
            if (mine) expect(mine.member?._id ?? null).toBe(truth.member?._id ?? null);
            if (truth.member === null) expect(mine).toMatchObject({ member: null });
          } else {
            expect(mine?.member).toMatchObject({ _id: truth.member._id, role: truth.member.role, status: 'active' });
          }
        }
      }
    },
  );

  it('does not start from, or learn, a read taken at another seq than where it stands', async () => {
    const { store, apply } = await setup();
    const read = await store.readForSubscribe(REQUESTS, 'owner');
    expect(ProjectView.from(read, REQUESTS, 'owner', read.seq - 1, LIMIT)).toBeNull();
    const view = ProjectView.from(read, REQUESTS, 'owner', read.seq, LIMIT)!;
    const env = await apply({ type: 'request.create', data: f.request(P, 'late') });
    // The view has not followed this envelope yet: a read that already holds it must not be mixed in.
    view.learn(await store.readForSubscribe(REQUESTS, 'agent'), REQUESTS, 'agent');
    expect(view.read(REQUESTS, 'agent')).toBeUndefined();
    // A gap: the envelope after the next one.
    const after = await apply({ type: 'request.create', data: f.request(P, 'later') });
    expect(view.follow(after!)).toBe(false);
    expect(view.follow(env!)).toBe(true);
  });
});
