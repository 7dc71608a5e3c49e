import { addToIndex, removeFromIndex } from '../../common/set-index';
import { memberUserId, viewerOf, Viewer } from '../../access/member-access';
import { Envelope } from '../../domain/changes';
import { DomainEvent } from '../../domain/domain-events';
import {
  BotDoc,
  EventDoc,
  MessageDoc,
  ProjectDoc,
  ProjectUserDoc,
  REQUEST_STATUS,
  RequestDoc,
  isListed,
  timeOf,
} from '../../domain/documents';
import { memberProjectOf, sortMemberProjects } from '../../analytics/member-projects';
import { MemberProject, ProjectMetrics } from '../../analytics/metrics-shape';
import { DEFAULT_METRICS_SETTINGS, MetricsSettings, buildProjectMetrics } from '../../analytics/project-metrics';
import { Topic } from '../../protocol/topic-grammar';
import { ProjectStateReader, WriteOp, planApply, sortNewestFirst } from '../apply-plan';
import { ApplyOutcome, HistoryLimits, MembersRead, MetricsRead, ReadModel, TopicRead } from '../read-model';
import { MemoryMetrics } from './memory-metrics';

export interface MemoryReadModelOptions {
  history: HistoryLimits;
  closedRequestTtlS: number;
  eventsTtlS: number;
  dedupeTtlS: number;
  /** DELETE_TOMBSTONE_TTL_S: how long a delete keeps older versions of what it deleted out (default closedRequestTtlS). */
  tombstoneTtlS?: number;
  /** METRICS_*: the `/P/metrics` window, defaults and target (analytics.md's defaults when absent). */
  metrics?: MetricsSettings;
  now?: () => number;
}

interface StoredEvent {
  doc: EventDoc;
  at: number;
}

class MessageLog {
  readonly byId = new Map<string, MessageDoc>();
  /** Ascending createdAt; the oldest are dropped past the cap. */
  readonly list: MessageDoc[] = [];

  upsert(msg: MessageDoc, cap: number): void {
    const existing = this.byId.get(msg._id);
    this.byId.set(msg._id, msg);
    if (existing) {
      this.list[this.list.indexOf(existing)] = msg;
      return;
    }
    const t = timeOf(msg.createdAt);
    let i = this.list.length;
    while (i > 0 && timeOf(this.list[i - 1]!.createdAt) > t) i--;
    this.list.splice(i, 0, msg);
    while (this.list.length > cap) this.byId.delete(this.list.shift()!._id);
  }

  newest(limit: number): MessageDoc[] {
    return this.list.slice(Math.max(0, this.list.length - limit));
  }
}

class ProjectState {
  seq = 0;
  project: ProjectDoc | null = null;
  readonly requests = new Map<string, RequestDoc>();
  readonly requestIdByOid = new Map<string, string>();
  readonly listed = new Set<string>();
  readonly listedByParticipant = new Map<string, Set<string>>();
  readonly listedByAgent = new Map<string, Set<string>>();
  /** All listed requests, newest first; rebuilt lazily after a change. */
  sortedListed: RequestDoc[] | null = [];
  readonly closedAt = new Map<string, number>();
  readonly messages = new Map<string, MessageLog>();
  readonly projectUsers = new Map<string, ProjectUserDoc>();
  readonly puByUserId = new Map<string, string>();
  readonly puByUuid = new Map<string, string>();
  /** project_user id → event name → events, newest first. */
  readonly events = new Map<string, Map<string, StoredEvent[]>>();
  readonly bots = new Map<string, BotDoc>();
  /** Tombstone key (`tombstoneKey`) → when its delete was accepted (ms); expired ones go at the next sweep. */
  readonly tombstones = new Map<string, number>();
  readonly metrics = new MemoryMetrics();
}

/** The memory engine's read model: one process, everything in maps, reads answered from indexes. */
export class MemoryReadModel extends ReadModel {
  private readonly projects = new Map<string, ProjectState>();
  private readonly eventIds = new Map<string, number>();
  private readonly now: () => number;
  private readonly tombstoneTtlMs: number;
  private readonly metricsSettings: MetricsSettings;

  constructor(private readonly opts: MemoryReadModelOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.metricsSettings = opts.metrics ?? DEFAULT_METRICS_SETTINGS;
    this.tombstoneTtlMs = (opts.tombstoneTtlS ?? opts.closedRequestTtlS) * 1000;
  }

  async apply(event: DomainEvent, acceptedAt: number): Promise<ApplyOutcome> {
    const state = this.state(event.projectId);
    const plan = await planApply(event, this.reader(state), {
      requestsLimit: this.opts.history.requests,
      now: this.now(),
      acceptedAt,
      tombstoneTtlMs: this.tombstoneTtlMs,
    });
    // Everything from here on is synchronous: the plan's reads and its writes form one step.
    for (const op of plan.ops ?? []) this.write(state, op);
    if (plan.outcome !== 'applied') return { outcome: plan.outcome };
    state.seq += 1;
    const envelope: Envelope = { projectId: event.projectId, seq: state.seq, acceptedAt, change: plan.change };
    return { outcome: 'applied', envelope };
  }

  readForSubscribe(topic: Topic, userId: string): Promise<TopicRead> {
    return Promise.resolve(this.readSync(topic, userId));
  }

  override readMembers(projectId: string): Promise<MembersRead> {
    const state = this.projects.get(projectId);
    const members = new Map<string, ProjectUserDoc>();
    for (const [userId, puId] of state?.puByUserId ?? []) {
      const pu = state!.projectUsers.get(puId);
      if (pu) members.set(userId, pu);
    }
    return Promise.resolve({ seq: state?.seq ?? 0, project: state?.project ?? null, members });
  }

  readMetrics(projectId: string): Promise<MetricsRead> {
    const state = this.projects.get(projectId);
    const { metrics, nextExpiryMs } = this.metricsOf(projectId, state);
    return Promise.resolve({ seq: state?.seq ?? 0, metrics, nextExpiryMs });
  }

  memberProjects(userId: string): Promise<MemberProject[]> {
    const out: MemberProject[] = [];
    for (const [projectId, state] of this.projects) {
      const puId = state.puByUserId.get(userId);
      const member = puId !== undefined ? (state.projectUsers.get(puId) ?? null) : null;
      const entry = memberProjectOf(projectId, state.project, member, userId);
      if (entry) out.push(entry);
    }
    return Promise.resolve(sortMemberProjects(out));
  }

  private metricsOf(projectId: string, state: ProjectState | undefined): { metrics: ProjectMetrics; nextExpiryMs: number | null } {
    const settings = this.metricsSettings;
    const raw = (state?.metrics ?? new MemoryMetrics()).read(this.now(), settings.windowS * 1000);
    return { metrics: buildProjectMetrics(projectId, raw, settings), nextExpiryMs: raw.nextExpiryMs };
  }

  isDuplicateEventId(id: string): Promise<boolean> {
    const until = this.eventIds.get(id);
    return Promise.resolve(until !== undefined && until > this.now());
  }

  rememberEventId(id: string): Promise<void> {
    if (this.opts.dedupeTtlS > 0) this.eventIds.set(id, this.now() + this.opts.dedupeTtlS * 1000);
    return Promise.resolve();
  }

  /** Drops closed requests past their TTL (with their messages), expired tombstones and expired dedupe ids. */
  override sweep(): void {
    const now = this.now();
    const ttl = this.opts.closedRequestTtlS * 1000;
    for (const state of this.projects.values()) {
      for (const [rid, at] of state.closedAt) {
        if (now - at >= ttl) {
          const doc = state.requests.get(rid);
          if (doc) this.removeRequest(state, doc);
        }
      }
      for (const [key, at] of state.tombstones) if (now - at >= this.tombstoneTtlMs) state.tombstones.delete(key);
    }
    for (const [id, until] of this.eventIds) if (until <= now) this.eventIds.delete(id);
  }

  // ---- apply -------------------------------------------------------------------------------------

  private reader(state: ProjectState): ProjectStateReader {
    const now = <T>(v: T) => Promise.resolve(v);
    return {
      project: () => now(state.project),
      request: (rid) => now(state.requests.get(rid) ?? null),
      requestIdOf: (oid) => now(state.requestIdByOid.get(oid)),
      message: (rid, id) => now(state.messages.get(rid)?.byId.get(id) ?? null),
      projectUser: (id) => now(state.projectUsers.get(id) ?? null),
      projectUsers: () => now([...state.projectUsers.values()]),
      listed: (viewer, limit) => now(limit === undefined ? this.listedFor(state, viewer) : this.listedFor(state, viewer).slice(0, limit)),
      hasEvent: (puId, name, id) =>
        now(
          state.events
            .get(puId)
            ?.get(name)
            ?.some((e) => e.doc._id === id) ?? false,
        ),
      bot: (id) => now(state.bots.get(id) ?? null),
      tombstones: (keys) => now(keys.map((key) => state.tombstones.get(key) ?? null)),
    };
  }

  private write(state: ProjectState, w: WriteOp): void {
    switch (w.op) {
      case 'putRequest': {
        if (w.prev) this.unindexRequest(state, w.prev);
        const doc = w.doc;
        state.requests.set(doc.request_id, doc);
        state.requestIdByOid.set(doc._id, doc.request_id);
        this.indexRequest(state, doc);
        if (doc.status === REQUEST_STATUS.CLOSED) {
          if (!state.closedAt.has(doc.request_id)) state.closedAt.set(doc.request_id, this.now());
        } else {
          state.closedAt.delete(doc.request_id);
        }
        return;
      }
      case 'removeRequest':
        this.removeRequest(state, w.doc);
        return;
      case 'purgeMessages':
        state.messages.delete(w.requestId);
        return;
      case 'putMessage': {
        let log = state.messages.get(w.doc.recipient);
        if (!log) {
          log = new MessageLog();
          state.messages.set(w.doc.recipient, log);
        }
        log.upsert(w.doc, this.opts.history.messages);
        return;
      }
      case 'putProjectUser': {
        if (w.prev) this.unindexProjectUser(state, w.prev);
        state.projectUsers.set(w.doc._id, w.doc);
        const uid = memberUserId(w.doc);
        if (uid !== undefined) state.puByUserId.set(uid, w.doc._id);
        if (w.doc.uuid_user !== undefined) state.puByUuid.set(w.doc.uuid_user, w.doc._id);
        return;
      }
      case 'removeProjectUser':
        this.unindexProjectUser(state, w.doc);
        state.projectUsers.delete(w.doc._id);
        return;
      case 'putProject':
        state.project = w.doc;
        return;
      case 'addEvent': {
        let byName = state.events.get(w.projectUserId);
        if (!byName) {
          byName = new Map();
          state.events.set(w.projectUserId, byName);
        }
        let list = byName.get(w.doc.name);
        if (!list) {
          list = [];
          byName.set(w.doc.name, list);
        }
        let i = 0;
        while (i < list.length && list[i]!.at > w.at) i++;
        list.splice(i, 0, { doc: w.doc, at: w.at });
        list.length = Math.min(list.length, this.opts.history.events);
        return;
      }
      case 'putBot':
        state.bots.set(w.doc._id, w.doc);
        return;
      case 'putTombstone':
        state.tombstones.set(w.key, w.at);
        return;
      case 'dropTombstone':
        state.tombstones.delete(w.key);
        return;
      case 'mxCount':
      case 'mxWait':
        state.metrics.apply(w);
        return;
      case 'mxArrival':
      case 'mxClosure':
      case 'mxFirstResponse':
        // A window that grows drops what left it, so a project nobody reads stays bounded (as on Redis).
        state.metrics.apply(w);
        state.metrics.prune(this.now() - this.metricsSettings.windowS * 1000);
        return;
    }
  }

  private removeRequest(state: ProjectState, doc: RequestDoc): void {
    this.unindexRequest(state, doc);
    state.requests.delete(doc.request_id);
    state.requestIdByOid.delete(doc._id);
    state.closedAt.delete(doc.request_id);
    state.messages.delete(doc.request_id);
  }

  private indexRequest(state: ProjectState, doc: RequestDoc): void {
    if (!isListed(doc)) return;
    state.listed.add(doc.request_id);
    for (const u of doc.participants) addToIndex(state.listedByParticipant, u, doc.request_id);
    for (const a of doc.snapshot.agents) addToIndex(state.listedByAgent, a.id_user, doc.request_id);
    state.sortedListed = null;
  }

  private unindexRequest(state: ProjectState, doc: RequestDoc): void {
    if (!state.listed.delete(doc.request_id)) return;
    for (const u of doc.participants) removeFromIndex(state.listedByParticipant, u, doc.request_id);
    for (const a of doc.snapshot.agents) removeFromIndex(state.listedByAgent, a.id_user, doc.request_id);
    state.sortedListed = null;
  }

  private unindexProjectUser(state: ProjectState, pu: ProjectUserDoc): void {
    const uid = memberUserId(pu);
    if (uid !== undefined && state.puByUserId.get(uid) === pu._id) state.puByUserId.delete(uid);
    if (pu.uuid_user !== undefined && state.puByUuid.get(pu.uuid_user) === pu._id) state.puByUuid.delete(pu.uuid_user);
  }

  // ---- reads -------------------------------------------------------------------------------------

  private readSync(topic: Topic, userId: string): TopicRead {
    const state = this.projects.get(topic.projectId);
    const puId = state?.puByUserId.get(userId);
    const member = (puId !== undefined ? state?.projectUsers.get(puId) : undefined) ?? null;
    const read: TopicRead = { seq: state?.seq ?? 0, project: state?.project ?? null, member };
    if (topic.kind === 'metrics') read.metrics = this.metricsOf(topic.projectId, state).metrics;
    if (!state) {
      if (topic.kind === 'request' || topic.kind === 'messages') read.request = null;
      if (topic.kind === 'project_user' || topic.kind === 'project_user_by_user') read.target = null;
      return read;
    }
    switch (topic.kind) {
      case 'requests': {
        const viewer = viewerOf(member, userId);
        read.requests = viewer ? this.listedFor(state, viewer).slice(0, this.opts.history.requests) : [];
        break;
      }
      case 'request':
        read.request = state.requests.get(topic.requestId) ?? null;
        break;
      case 'messages':
        read.request = state.requests.get(topic.requestId) ?? null;
        read.messages = state.messages.get(topic.requestId)?.newest(this.opts.history.messages) ?? [];
        break;
      case 'project_user':
        read.target = state.projectUsers.get(topic.projectUserId) ?? null;
        break;
      case 'project_user_by_user': {
        const id = state.puByUserId.get(topic.userKey) ?? state.puByUuid.get(topic.userKey);
        read.target = (id !== undefined ? state.projectUsers.get(id) : undefined) ?? null;
        break;
      }
      case 'events':
        read.events = this.eventsFor(state, topic.projectUserId, topic.name);
        break;
      case 'bot':
        read.bot = state.bots.get(topic.botId) ?? null;
        break;
      case 'metrics':
        break;
    }
    return read;
  }

  /** Listed requests the viewer sees, newest `updatedAt` first (ties by `_id`), from the indexes. */
  private listedFor(state: ProjectState, viewer: Pick<Viewer, 'scope' | 'userId'>): RequestDoc[] {
    if (viewer.scope === 'all') {
      if (!state.sortedListed) state.sortedListed = sortNewestFirst([...state.listed].map((rid) => state.requests.get(rid)!));
      return state.sortedListed;
    }
    const ids = new Set(state.listedByParticipant.get(viewer.userId));
    if (viewer.scope === 'group') for (const rid of state.listedByAgent.get(viewer.userId) ?? []) ids.add(rid);
    return sortNewestFirst([...ids].map((rid) => state.requests.get(rid)!));
  }

  private eventsFor(state: ProjectState, puId: string, name: string | undefined): EventDoc[] {
    const byName = state.events.get(puId);
    if (!byName) return [];
    const cutoff = this.now() - this.opts.eventsTtlS * 1000;
    const lists = name !== undefined ? [byName.get(name) ?? []] : [...byName.values()];
    return lists
      .flat()
      .filter((e) => e.at >= cutoff)
      .sort((a, b) => b.at - a.at)
      .slice(0, this.opts.history.events)
      .map((e) => e.doc);
  }

  private state(projectId: string): ProjectState {
    let s = this.projects.get(projectId);
    if (!s) {
      s = new ProjectState();
      this.projects.set(projectId, s);
    }
    return s;
  }
}
