import { canSeeRequest, memberUserId, viewerKey, viewerOf, Viewer } from '../../access/member-access';
import { Change, Envelope } from '../../domain/changes';
import { DomainEvent } from '../../domain/domain-events';
import {
  BotDoc,
  EventDoc,
  MessageDoc,
  ProjectDoc,
  ProjectUserDoc,
  REQUEST_STATUS,
  RequestDoc,
  WireProjectUser,
  isListed,
  refId,
  requestStub,
  timeOf,
} from '../../domain/documents';
import { freshness } from '../../domain/staleness';
import { isBusy, toWireProjectUser } from '../../domain/transforms';
import { Topic } from '../../protocol/topic-grammar';
import { ApplyOutcome, HistoryLimits, ReadModel, TopicRead } from '../read-model';

export interface MemoryReadModelOptions {
  history: HistoryLimits;
  closedRequestTtlS: number;
  eventsTtlS: number;
  dedupeTtlS: number;
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
}

/** The memory engine's read model: one process, everything in maps, reads answered from indexes. */
export class MemoryReadModel extends ReadModel {
  private readonly projects = new Map<string, ProjectState>();
  private readonly eventIds = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: MemoryReadModelOptions) {
    super();
    this.now = opts.now ?? Date.now;
  }

  apply(event: DomainEvent, acceptedAt: number): Promise<ApplyOutcome> {
    return Promise.resolve(this.applySync(event, acceptedAt));
  }

  readForSubscribe(topic: Topic, userId: string): Promise<TopicRead> {
    return Promise.resolve(this.readSync(topic, userId));
  }

  isDuplicateEventId(id: string): Promise<boolean> {
    const until = this.eventIds.get(id);
    return Promise.resolve(until !== undefined && until > this.now());
  }

  rememberEventId(id: string): Promise<void> {
    if (this.opts.dedupeTtlS > 0) this.eventIds.set(id, this.now() + this.opts.dedupeTtlS * 1000);
    return Promise.resolve();
  }

  /** Drops closed requests past their TTL (with their messages) and expired dedupe ids. */
  sweep(): void {
    const now = this.now();
    const ttl = this.opts.closedRequestTtlS * 1000;
    for (const state of this.projects.values()) {
      for (const [rid, at] of state.closedAt) {
        if (now - at >= ttl) {
          const doc = state.requests.get(rid);
          if (doc) this.removeRequest(state, doc);
        }
      }
    }
    for (const [id, until] of this.eventIds) if (until <= now) this.eventIds.delete(id);
  }

  // ---- apply -------------------------------------------------------------------------------------

  private applySync(event: DomainEvent, acceptedAt: number): ApplyOutcome {
    const state = this.state(event.projectId);
    let change: Change | 'stale' | 'duplicate' | null;
    switch (event.type) {
      case 'request.upsert':
        change = this.applyRequest(state, event.data);
        break;
      case 'request.delete':
        change = this.deleteRequest(state, event.requestId, event.oid);
        break;
      case 'message.upsert':
        change = this.applyMessage(state, event.data);
        break;
      case 'project_user.upsert':
        change = this.applyProjectUser(state, event.data);
        break;
      case 'project_user.delete':
        change = this.deleteProjectUser(state, event.projectUserId);
        break;
      case 'project.update':
        change = this.applyProject(state, event.data);
        break;
      case 'event.emit':
        change = this.applyEvent(state, event.data);
        break;
      case 'bot.upsert':
        change = this.applyBot(state, event.data);
        break;
    }
    if (change === 'stale' || change === 'duplicate') return { outcome: change };
    if (change === null) return { outcome: 'duplicate' };
    state.seq += 1;
    const envelope: Envelope = { projectId: event.projectId, seq: state.seq, acceptedAt, change };
    return { outcome: 'applied', envelope };
  }

  private applyRequest(state: ProjectState, doc: RequestDoc): Change | 'stale' | 'duplicate' {
    const prevRid = state.requestIdByOid.get(doc._id);
    const prev = state.requests.get(doc.request_id) ?? (prevRid !== undefined ? state.requests.get(prevRid) : undefined) ?? null;
    const fresh = freshness(prev, doc);
    if (fresh !== 'newer') return fresh;
    if (prev) {
      this.unindexRequest(state, prev);
      // The same request renamed: its old entry and messages must not linger.
      if (prev.request_id !== doc.request_id) this.removeRequest(state, prev);
    }
    state.requests.set(doc.request_id, doc);
    state.requestIdByOid.set(doc._id, doc.request_id);
    this.indexRequest(state, doc);
    if (doc.status === REQUEST_STATUS.CLOSED) {
      if (!state.closedAt.has(doc.request_id)) state.closedAt.set(doc.request_id, this.now());
    } else {
      state.closedAt.delete(doc.request_id);
    }
    return { type: 'request', prev, next: doc };
  }

  private deleteRequest(state: ProjectState, requestId: string | undefined, oid: string | undefined): Change | null {
    const rid = requestId ?? (oid !== undefined ? state.requestIdByOid.get(oid) : undefined);
    const prev = rid !== undefined ? state.requests.get(rid) : undefined;
    if (!prev) {
      // Messages can arrive before their request: a delete removes them all the same.
      if (rid !== undefined) state.messages.delete(rid);
      return null;
    }
    this.removeRequest(state, prev);
    return { type: 'request_removed', prev };
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
    for (const u of doc.participants) addTo(state.listedByParticipant, u, doc.request_id);
    for (const a of doc.snapshot.agents) addTo(state.listedByAgent, a.id_user, doc.request_id);
    state.sortedListed = null;
  }

  private unindexRequest(state: ProjectState, doc: RequestDoc): void {
    if (!state.listed.delete(doc.request_id)) return;
    for (const u of doc.participants) removeFrom(state.listedByParticipant, u, doc.request_id);
    for (const a of doc.snapshot.agents) removeFrom(state.listedByAgent, a.id_user, doc.request_id);
    state.sortedListed = null;
  }

  private applyMessage(state: ProjectState, incoming: MessageDoc): Change | 'stale' | 'duplicate' {
    const stored = withoutEmbeddedRequest(incoming);
    const log = state.messages.get(incoming.recipient);
    const prev = log?.byId.get(incoming._id);
    const fresh = freshness(prev, stored);
    if (fresh !== 'newer') return fresh;
    let target = log;
    if (!target) {
      target = new MessageLog();
      state.messages.set(incoming.recipient, target);
    }
    target.upsert(stored, this.opts.history.messages);
    return { type: 'message', method: prev ? 'UPDATE' : 'CREATE', message: incoming };
  }

  private applyProjectUser(state: ProjectState, doc: ProjectUserDoc): Change | 'stale' | 'duplicate' {
    const prev = state.projectUsers.get(doc._id) ?? null;
    const fresh = freshness(prev, doc);
    if (fresh !== 'newer') return fresh;
    if (prev) this.unindexProjectUser(state, prev);
    state.projectUsers.set(doc._id, doc);
    const uid = memberUserId(doc);
    if (uid !== undefined) state.puByUserId.set(uid, doc._id);
    if (doc.uuid_user !== undefined) state.puByUuid.set(doc.uuid_user, doc._id);
    const change: Change = {
      type: 'project_user',
      prev: prev ? toWireProjectUser(prev, state.project) : null,
      next: toWireProjectUser(doc, state.project),
    };
    const prevKey = viewerKey(prev);
    const nextKey = viewerKey(doc);
    if (prev && prevKey !== null && nextKey !== null && prevKey !== nextKey && uid !== undefined && memberUserId(prev) === uid) {
      const before = viewerOf(prev, uid)!;
      const after = viewerOf(doc, uid)!;
      const removed = this.listedFor(state, before)
        .filter((r) => !canSeeRequest(after, r))
        .map(requestStub);
      change.view = { removed, snapshot: this.listedFor(state, after).slice(0, this.opts.history.requests) };
    }
    return change;
  }

  private unindexProjectUser(state: ProjectState, pu: ProjectUserDoc): void {
    const uid = memberUserId(pu);
    if (uid !== undefined && state.puByUserId.get(uid) === pu._id) state.puByUserId.delete(uid);
    if (pu.uuid_user !== undefined && state.puByUuid.get(pu.uuid_user) === pu._id) state.puByUuid.delete(pu.uuid_user);
  }

  private deleteProjectUser(state: ProjectState, puId: string): Change | null {
    const prev = state.projectUsers.get(puId);
    if (!prev) return null;
    this.unindexProjectUser(state, prev);
    state.projectUsers.delete(puId);
    return { type: 'project_user', prev: toWireProjectUser(prev, state.project), next: null };
  }

  private applyProject(state: ProjectState, doc: ProjectDoc): Change | 'stale' | 'duplicate' {
    const prev = state.project;
    const fresh = freshness(prev, doc);
    if (fresh !== 'newer') return fresh;
    state.project = doc;
    const busyChanged: WireProjectUser[] = [];
    for (const pu of state.projectUsers.values()) {
      if (isBusy(pu, prev) !== isBusy(pu, doc)) busyChanged.push(toWireProjectUser(pu, doc));
    }
    return { type: 'project', prev, next: doc, busyChanged };
  }

  private applyEvent(state: ProjectState, doc: EventDoc): Change | 'duplicate' {
    const puId = refId(doc.project_user)!;
    let byName = state.events.get(puId);
    if (!byName) {
      byName = new Map();
      state.events.set(puId, byName);
    }
    let list = byName.get(doc.name);
    if (!list) {
      list = [];
      byName.set(doc.name, list);
    }
    if (list.some((e) => e.doc._id === doc._id)) return 'duplicate';
    const created = timeOf(doc.createdAt);
    const at = Number.isNaN(created) ? this.now() : created;
    let i = 0;
    while (i < list.length && list[i]!.at > at) i++;
    list.splice(i, 0, { doc, at });
    list.length = Math.min(list.length, this.opts.history.events);
    return { type: 'event', event: doc };
  }

  private applyBot(state: ProjectState, doc: BotDoc): Change | 'stale' | 'duplicate' {
    const prev = state.bots.get(doc._id);
    const fresh = freshness(prev, doc);
    if (fresh !== 'newer') return fresh;
    state.bots.set(doc._id, doc);
    return { type: 'bot', bot: doc };
  }

  // ---- reads -------------------------------------------------------------------------------------

  private readSync(topic: Topic, userId: string): TopicRead {
    const state = this.projects.get(topic.projectId);
    const puId = state?.puByUserId.get(userId);
    const member = (puId !== undefined ? state?.projectUsers.get(puId) : undefined) ?? null;
    const read: TopicRead = { seq: state?.seq ?? 0, project: state?.project ?? null, member };
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
    }
    return read;
  }

  /** Listed requests the viewer sees, newest `updatedAt` first (ties by `_id`), from the indexes. */
  private listedFor(state: ProjectState, viewer: Viewer): RequestDoc[] {
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

function withoutEmbeddedRequest(msg: MessageDoc): MessageDoc {
  if (!('request' in msg)) return msg;
  const copy = { ...msg };
  delete copy.request;
  return copy;
}

function sortNewestFirst(docs: RequestDoc[]): RequestDoc[] {
  return docs.sort((a, b) => {
    const d = (timeOf(b.updatedAt) || 0) - (timeOf(a.updatedAt) || 0);
    return d !== 0 ? d : a._id < b._id ? -1 : a._id > b._id ? 1 : 0;
  });
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (!set) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}

function removeFrom(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}
