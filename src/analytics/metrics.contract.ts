import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as f from '../../test/helpers/factories';
import { Random } from '../../test/helpers/random';
import { isActiveMember } from '../access/member-access';
import { ProjectDoc, ProjectUserDoc, RequestDoc, isListed } from '../domain/documents';
import { chatLimit, isBusy } from '../domain/transforms';
import { validateEnvelope } from '../ingest/event-validation';
import { parseTopic } from '../protocol/topic-grammar';
import { ReadModel } from '../store/read-model';
import { ReadModelContractOptions } from '../store/read-model.contract';
import { ProjectMetrics } from './metrics-shape';
import { DEFAULT_METRICS_SETTINGS, MetricsSettings, buildProjectMetrics, emptyCounters, medianOf } from './project-metrics';

/**
 * The `/P/metrics` behaviour every engine must show: the memory engine runs it in its unit spec, the Redis engine
 * against a real redis-server and a real cluster. The figures are checked against a recomputation from scratch
 * (the definitions of analytics.md applied to the final documents and the history of versions) after a seeded
 * random sequence of events; and replaying a sequence gives the same object.
 *
 * Time: the engines read their own clock (Redis: TIME); documents are dated from 25 minutes ago to a minute ago
 * so that some of them fall outside the 15-minute window, and the recomputation uses the object's generated_at.
 */

export type MetricsContractOptions = ReadModelContractOptions & { metrics: MetricsSettings };

const OPTIONS = {
  history: { requests: 5, messages: 4, events: 3 },
  closedRequestTtlS: 86_400,
  eventsTtlS: 3600,
  dedupeTtlS: 3600,
  tombstoneTtlS: 3600,
  metrics: DEFAULT_METRICS_SETTINGS,
};

let projectCounter = 0;

export function describeMetricsContract(
  name: string,
  make: (opts: MetricsContractOptions) => ReadModel | Promise<ReadModel>,
  dispose: (model: ReadModel) => void | Promise<void> = () => undefined,
): void {
  describe(`metrics contract: ${name}`, () => {
    let model: ReadModel;
    let P: string;

    beforeEach(async () => {
      model = await make(OPTIONS);
      projectCounter += 1;
      P = `m${process.pid.toString(36)}${Date.now().toString(36)}${projectCounter}`;
    });
    afterEach(() => dispose(model));

    async function ingest(raw: { type: string; data: Record<string, unknown> }): Promise<string> {
      const v = validateEnvelope(raw, 0, { maxEventBytes: 262_144 });
      return (await model.apply(v.event, Date.now())).outcome;
    }

    it('counts requests, agents and capacity as analytics.md defines them', async () => {
      const t = clock(Date.now() - 2 * 60_000);
      await ingest({ type: 'project.update', data: f.project(P, { settings: { max_agent_assigned_chat: 2 }, updatedAt: t.next() }) });
      const member = (u: string, o: Record<string, unknown>) =>
        ingest({ type: 'project_user.update', data: f.projectUser(P, u, 'agent', { updatedAt: t.next(), ...o }) });
      await member('a1', { number_assigned_requests: 2 }); // available, busy (2 of 2)
      await member('a2', { number_assigned_requests: 1, max_assigned_chat: 4 }); // available, own limit 4
      await member('a3', { user_available: false, presence: { status: 'offline' } }); // away, offline
      await member('a4', { status: 'disabled' }); // not a member for the metrics
      await ingest({ type: 'project_user.update', data: f.projectUser(P, 'g1', 'guest', { updatedAt: t.next() }) });
      const createdAt = t.next();
      await ingest({ type: 'request.create', data: f.request(P, 'w1', { status: 100, createdAt, updatedAt: t.next() }) });
      await ingest({ type: 'request.create', data: f.request(P, 'w2', { status: 100, createdAt: t.next(), updatedAt: t.next() }) });
      await ingest({ type: 'request.create', data: f.request(P, 'as', { status: 200, createdAt: t.next(), updatedAt: t.next() }) });
      await ingest({ type: 'request.create', data: f.request(P, 'sv', { status: 300, createdAt: t.next(), updatedAt: t.next() }) });
      await ingest({ type: 'request.create', data: f.request(P, 'pf', { status: 100, preflight: true, updatedAt: t.next() }) });
      await ingest({ type: 'request.create', data: f.request(P, 'dr', { status: 100, draft: true, updatedAt: t.next() }) });

      const { metrics: m } = await model.readMetrics(P);
      expect(m.project_id).toBe(P);
      expect(m.window_s).toBe(900);
      expect(m.requests).toMatchObject({ open: 4, unassigned: 2, assigned: 1, served: 1 });
      const now = Date.parse(m.generated_at);
      expect(m.requests.oldest_wait_s).toBe(Math.round((now - Date.parse(createdAt)) / 100) / 10);
      expect(m.agents).toEqual({ members: 3, available: 2, busy: 1, unavailable: 1, online: 2 });
      expect(m.capacity).toEqual({ slots_total: 6, slots_used: 3, slots_free: 3, utilization: 0.5, unlimited_agents: 0 });
      // Four arrivals (not the preflight, not the draft) in the last 15 minutes: 16 an hour.
      expect(m.flow).toEqual({ arrivals_per_hour: 16, closures_per_hour: 0, median_first_response_s: null, mean_handle_time_s: null });
      expect(m.forecast).toMatchObject({ servers: 6, servers_estimated: false, handle_time_estimated: true, overloaded: false });

      // The snapshot of T8 is the same object, for a member allowed to see it.
      const read = await model.readForSubscribe(parseTopic(`/${P}/metrics`)!, 'a1');
      expect(stripTimes(read.metrics!)).toEqual(stripTimes(m));

      // The project's limit goes: a1 and a3 have none, so capacity is unknown and servers are estimated.
      await ingest({ type: 'project.update', data: f.project(P, { settings: { max_agent_assigned_chat: -1 }, updatedAt: t.next() }) });
      const after = (await model.readMetrics(P)).metrics;
      expect(after.agents.busy).toBe(0);
      expect(after.capacity).toEqual({ slots_total: null, slots_used: 3, slots_free: null, utilization: null, unlimited_agents: 1 });
      expect(after.forecast).toMatchObject({ servers: 6, servers_estimated: true });
    });

    it('replaying the same events gives the same object', async () => {
      const events = randomStory(new Random(7), P, Date.now() - 25 * 60_000, 120).events;
      for (const e of events) await ingest(e);
      const first = (await model.readMetrics(P)).metrics;
      const again = await make(OPTIONS);
      try {
        const Q = `${P}r`;
        for (const e of randomStory(new Random(7), Q, Date.now() - 25 * 60_000, 120, events).events) {
          const v = validateEnvelope(e, 0, { maxEventBytes: 262_144 });
          await again.apply(v.event, Date.now());
        }
        const second = (await again.readMetrics(Q)).metrics;
        expect(stripTimes({ ...second, project_id: P })).toEqual(stripTimes(first));
      } finally {
        await dispose(again);
      }
    });

    for (const seed of [1, 2, 3]) {
      it(`follows a random event sequence (seed ${seed}): every figure matches a recomputation from scratch`, async () => {
        const story = randomStory(new Random(seed), P, Date.now() - 25 * 60_000, 400);
        for (const e of story.events) expect(await ingest(e)).toBe('applied');
        const { metrics } = await model.readMetrics(P);
        const expected = recompute(P, story, Date.parse(metrics.generated_at), OPTIONS.metrics);
        expect(metrics).toEqual(expected);
        // Something was exercised: the story has waiting requests, closures in the window, and first responses.
        expect(metrics.requests.unassigned).toBeGreaterThan(0);
        expect(metrics.flow.closures_per_hour).toBeGreaterThan(0);
        expect(metrics.flow.median_first_response_s).not.toBeNull();
      });
    }
  });
}

/** Ages tick with the clock: what must be equal is everything else. */
export function stripTimes(m: ProjectMetrics): unknown {
  return { ...m, generated_at: undefined, requests: { ...m.requests, oldest_wait_s: undefined, avg_wait_s: undefined } };
}

function clock(start: number): { next(): string } {
  let t = start;
  return { next: () => new Date((t += 1000)).toISOString() };
}

interface Story {
  events: Array<{ type: string; data: Record<string, unknown> }>;
  /** Every applied version of each request (by _id), in order, and whether it was deleted at the end. */
  versions: Map<string, RequestDoc[]>;
  deleted: Set<string>;
  members: Map<string, ProjectUserDoc>;
  project: ProjectDoc | null;
}

/**
 * A seeded story of a project: members coming and going, available or away, online or not, their loads and
 * limits; the project's limit changing; requests created (some as preflights or drafts), assigned, served,
 * answered, closed, reopened, deleted. Every version is newer than the last of its document, so all apply.
 * `replay`: the events of an earlier story, re-targeted at this project (same documents otherwise).
 */
function randomStory(rnd: Random, P: string, start: number, n: number, replay?: Story['events']): Story {
  const story: Story = { events: [], versions: new Map(), deleted: new Set(), members: new Map(), project: null };
  if (replay) {
    story.events = replay.map((e) => ({
      type: e.type,
      data: JSON.parse(
        JSON.stringify(e.data)
          .split(`"${replayProject(e)}"`)
          .join(`"${P}"`),
      ) as Record<string, unknown>,
    }));
    return story;
  }
  let t = start;
  const tick = () => new Date((t += 3000)).toISOString();
  const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8'];
  const live = new Map<string, RequestDoc>();
  let nextRequest = 0;
  const push = (type: string, data: Record<string, unknown>) => story.events.push({ type, data });
  for (let i = 0; i < n; i++) {
    const roll = rnd.int(100);
    if (roll < 8 || i === 0) {
      const max = rnd.chance(0.2) ? -1 : rnd.between(1, 4);
      const doc = f.project(P, { settings: { max_agent_assigned_chat: max }, updatedAt: tick() }) as unknown as ProjectDoc;
      story.project = doc;
      push('project.update', doc);
    } else if (roll < 30) {
      // A deleted member does not come back: its tombstone would keep an update dated before "now" out.
      const u = rnd.pick(users);
      const doc = f.projectUser(P, u, rnd.pick(['agent', 'agent', 'admin', 'supervisor', 'user']), {
        status: rnd.chance(0.85) ? 'active' : 'disabled',
        user_available: rnd.chance(0.7),
        number_assigned_requests: rnd.between(0, 5),
        presence: { status: rnd.chance(0.6) ? 'online' : 'offline' },
        ...(rnd.chance(0.3) ? { max_assigned_chat: rnd.between(-1, 6) } : {}),
        updatedAt: tick(),
      }) as unknown as ProjectUserDoc;
      if (rnd.chance(0.05) && story.members.has(doc._id)) {
        push('project_user.delete', { _id: doc._id, id_project: P });
        story.members.delete(doc._id);
        users.splice(users.indexOf(u), 1);
      } else {
        story.members.set(doc._id, doc);
        push('project_user.update', doc);
      }
    } else if (roll < 55 || live.size === 0) {
      const id = `r${nextRequest++}`;
      const createdAt = tick();
      const doc = f.request(P, id, {
        status: rnd.pick([100, 100, 100, 200]),
        preflight: rnd.chance(0.1),
        draft: rnd.chance(0.05) ? true : null,
        createdAt,
        updatedAt: createdAt,
      }) as unknown as RequestDoc;
      live.set(doc._id, doc);
      story.versions.set(doc._id, [doc]);
      push('request.create', doc);
    } else if (roll < 95) {
      const prev = rnd.pick([...live.values()]);
      const next: Record<string, unknown> = { ...prev, updatedAt: tick() };
      const step = rnd.int(6);
      if (step === 0) next.status = 200;
      else if (step === 1) next.status = 300;
      else if (step === 2) next.status = 1000;
      else if (step === 3) next.preflight = false;
      else if (step === 4) next.draft = null;
      else next.status = 100;
      if (next.status !== 100 && prev.first_response_at === undefined && rnd.chance(0.8)) next.first_response_at = next.updatedAt;
      if (next.status === 1000 && rnd.chance(0.5)) next.closed_at = next.updatedAt;
      const doc = next as RequestDoc;
      live.set(doc._id, doc);
      story.versions.get(doc._id)!.push(doc);
      push('request.update', doc);
    } else {
      const prev = rnd.pick([...live.values()]);
      live.delete(prev._id);
      story.deleted.add(prev._id);
      push('request.delete', { _id: prev._id, request_id: prev.request_id, id_project: P });
    }
  }
  return story;
}

function replayProject(e: { data: Record<string, unknown> }): string {
  return (e.data.id_project ?? e.data._id) as string;
}

/** analytics.md's definitions applied from scratch to the final documents and the versions each went through. */
function recompute(P: string, story: Story, now: number, settings: MetricsSettings): ProjectMetrics {
  const cutoff = now - settings.windowS * 1000;
  const counters = emptyCounters();
  let waitSum = 0n;
  let waitCount = 0;
  let oldest: number | null = null;
  let arrivals = 0;
  let closures = 0;
  let handleSum = 0;
  let handleCount = 0;
  const responses: number[] = [];
  for (const [id, versions] of story.versions) {
    const last = versions[versions.length - 1]!;
    if (!story.deleted.has(id) && isListed(last)) {
      counters.open++;
      if (last.status === 100) {
        counters.unassigned++;
        const c = Date.parse(last.createdAt!);
        waitCount++;
        waitSum += BigInt(c);
        oldest = oldest === null ? c : Math.min(oldest, c);
      }
      if (last.status === 200) counters.assigned++;
      if (last.status === 300) counters.served++;
    }
    const created = Date.parse(last.createdAt!);
    if (versions.some((v) => v.preflight !== true && v.draft !== true) && created > cutoff) arrivals++;
    const fr = last.first_response_at as string | undefined;
    if (fr !== undefined && Date.parse(fr) > cutoff) responses.push(Date.parse(fr) - created);
    // The last time the request reached 1000 counts (a reopened and closed again request closes once).
    let closing: RequestDoc | null = null;
    versions.forEach((v, i) => {
      if (v.status === 1000 && (i === 0 || versions[i - 1]!.status !== 1000)) closing = v;
    });
    if (closing) {
      const c = closing as RequestDoc;
      const at = Date.parse((c.closed_at as string | undefined) ?? c.updatedAt!);
      if (at > cutoff) {
        closures++;
        const frAt = c.first_response_at as string | undefined;
        handleSum += at - (frAt !== undefined ? Date.parse(frAt) : created);
        handleCount++;
      }
    }
  }
  for (const pu of story.members.values()) {
    if (!isActiveMember(pu)) continue;
    counters.members++;
    const available = pu.user_available === true;
    if (available) counters.available++;
    else counters.unavailable++;
    if (available && isBusy(pu, story.project)) counters.busy++;
    if ((pu.presence as { status: string }).status === 'online') counters.online++;
    if (available) {
      const limit = chatLimit(pu, story.project);
      if (limit === undefined) counters.unlimited++;
      else counters.slots += limit;
      counters.used += pu.number_assigned_requests ?? 0;
    }
  }
  responses.sort((a, b) => a - b);
  return buildProjectMetrics(
    P,
    {
      now,
      counters,
      waiting: { count: waitCount, createdSumMs: waitSum, oldestCreatedMs: oldest },
      arrivals,
      closures,
      handled: { count: handleCount, sumMs: handleSum },
      medianFirstResponseMs: medianOf(responses.length, (i) => responses[i]!),
      nextExpiryMs: null,
    },
    settings,
  );
}
