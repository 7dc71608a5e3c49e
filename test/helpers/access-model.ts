/**
 * An independent model of who must receive which frame, written from protocol.md §3-§4 and ingest.md (and
 * the rules chosen where the spec is silent). It deliberately shares no code with src/: the randomized
 * access tests drive the real service and this model with the same events and compare the frames.
 *
 * The model keeps its own read model (projects, project_users, requests, messages, events, bots) and the
 * subscriptions of every connection, and returns for each ingested event and each subscribe the frames a
 * connection must receive, in order per topic.
 *
 * The second half of this file is the scenario (AccessScenario): the seeded generator of events and
 * subscribes, and the driver that plays it against running nodes of the service (one in-process app, or
 * replicas sharing one Redis) and the model side by side.
 */
import { Random } from './random';
import { waitFor } from './wait-for';
import { Frame, TestClient } from './ws-client';

export type Doc = Record<string, any>;

export interface ExpectedFrame {
  action: 'publish' | 'error';
  topic: string;
  method?: 'CREATE' | 'UPDATE' | 'DELETE';
  message?: unknown;
  code?: string;
}

export interface Delivery {
  conn: string;
  frame: ExpectedFrame;
}

export interface ModelLimits {
  requests: number;
  messages: number;
  events: number;
}

export type Outcome = 'applied' | 'stale' | 'identical' | 'duplicate' | 'unknown';

export type TopicRef =
  | { kind: 'requests'; project: string }
  | { kind: 'request'; project: string; requestId: string }
  | { kind: 'messages'; project: string; requestId: string }
  | { kind: 'projectUser'; project: string; puId: string }
  | { kind: 'projectUserByUser'; project: string; user: string }
  | { kind: 'events'; project: string; puId: string; name?: string }
  | { kind: 'bot'; project: string; botId: string };

export type Scope = 'all' | 'group' | 'participants';

const AGENT_ROLES = new Set(['owner', 'admin', 'supervisor', 'agent']);
const LISTED_STATUSES = new Set([100, 200, 300]);

/** A string id, or the `_id` of a populated object. */
export function idOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && typeof (v as Doc)._id === 'string') return (v as Doc)._id as string;
  return undefined;
}

export function userOf(pu: Doc): string | undefined {
  return idOf(pu.id_user);
}

export function isMember(pu: Doc | undefined): boolean {
  if (!pu || pu.status !== 'active') return false;
  if (AGENT_ROLES.has(pu.role)) return true;
  return pu.role !== 'user' && pu.role !== 'guest' && pu.roleType === 1;
}

export function scopeOf(pu: Doc): Scope {
  const perms = new Set<string>([...asStrings(pu.permissions), ...asStrings(pu.rolePermissions)]);
  if (perms.size > 0) {
    if (perms.has('request_read_all')) return 'all';
    if (perms.has('request_read_group')) return 'group';
    return 'participants';
  }
  if (pu.role === 'owner' || pu.role === 'admin') return 'all';
  if (pu.role === 'agent') return 'group';
  return 'participants';
}

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function canSee(scope: Scope, user: string, req: Doc): boolean {
  if (scope === 'all') return true;
  const participants = asStrings(req.participants);
  if (participants.includes(user)) return true;
  if (scope === 'participants') return false;
  const agents: unknown[] = Array.isArray(req.snapshot?.agents) ? req.snapshot.agents : [];
  return agents.some((a) => a !== null && typeof a === 'object' && idOf((a as Doc).id_user) === user);
}

export function isListed(req: Doc): boolean {
  return LISTED_STATUSES.has(req.status) && req.preflight !== true && req.draft !== true;
}

function time(v: unknown): number {
  return typeof v === 'string' || typeof v === 'number' ? new Date(v).getTime() : 0;
}

/** Canonical JSON (sorted keys) for content comparison. */
export function canonical(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: Doc = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Doc)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** stale: older updatedAt, or same updatedAt and lower __v. */
export function isStale(prev: Doc, next: Doc): boolean {
  const tp = time(prev.updatedAt);
  const tn = time(next.updatedAt);
  if (tn < tp) return true;
  return tn === tp && Number(next.__v ?? 0) < Number(prev.__v ?? 0);
}

/** protocol.md §4.1 */
export function wireRequest(req: Doc): Doc {
  const w = clone(req);
  w.id = req._id;
  const lead = idOf(req.lead);
  w.requester_id = lead ?? null;
  const snapshot: Doc = w.snapshot !== null && typeof w.snapshot === 'object' ? w.snapshot : {};
  const agents: unknown[] = Array.isArray(snapshot.agents) ? snapshot.agents : [];
  snapshot.agents = agents.map((a) => ({ id_user: (a as Doc).id_user }));
  if (snapshot.requester !== null && typeof snapshot.requester === 'object') {
    snapshot.requester.isAuthenticated = snapshot.requester.role !== 'guest';
  }
  w.snapshot = snapshot;
  if (!Array.isArray(w.participants)) w.participants = [];
  return w;
}

export function requestStub(req: Doc): Doc {
  return { _id: req._id, id: req._id, request_id: req.request_id };
}

/** T1 order: updatedAt desc, ties by _id ascending. */
function listOrder(a: Doc, b: Doc): number {
  const d = time(b.updatedAt) - time(a.updatedAt);
  if (d !== 0) return d;
  return a._id < b._id ? -1 : a._id > b._id ? 1 : 0;
}

export function parseTopic(topic: string): TopicRef {
  const parts = topic.split('/');
  if (parts[0] !== '' || parts.length < 3) throw new Error(`model: unsupported topic ${topic}`);
  const project = parts[1]!;
  const rest = parts.slice(2);
  if (rest.length === 1 && rest[0] === 'requests') return { kind: 'requests', project };
  if (rest.length === 2 && rest[0] === 'requests') return { kind: 'request', project, requestId: rest[1]! };
  if (rest.length === 3 && rest[0] === 'requests' && rest[2] === 'messages') return { kind: 'messages', project, requestId: rest[1]! };
  if (rest.length === 3 && rest[0] === 'project_users' && rest[1] === 'users')
    return { kind: 'projectUserByUser', project, user: rest[2]! };
  if (rest.length === 2 && rest[0] === 'project_users') return { kind: 'projectUser', project, puId: rest[1]! };
  if (rest.length === 2 && rest[0] === 'events') return { kind: 'events', project, puId: rest[1]! };
  if (rest.length === 3 && rest[0] === 'events') return { kind: 'events', project, puId: rest[1]!, name: rest[2]! };
  if (rest.length === 2 && rest[0] === 'bots') return { kind: 'bot', project, botId: rest[1]! };
  throw new Error(`model: unsupported topic ${topic}`);
}

interface ProjectState {
  doc: Doc | undefined;
  requests: Map<string, Doc>;
  /** by request_id, then message _id; stored without an embedded `request`. */
  messages: Map<string, Map<string, Doc>>;
  projectUsers: Map<string, Doc>;
  /** by project_user id */
  events: Map<string, Doc[]>;
  bots: Map<string, Doc>;
  /** Last state of deleted requests, by request_id: a T2 subscription outlives its request (it got DELETE). */
  deletedRequests: Map<string, Doc>;
}

interface Connection {
  user: string;
  subs: Map<string, TopicRef>;
}

export class AccessModel {
  private readonly projects = new Map<string, ProjectState>();
  private readonly connections = new Map<string, Connection>();
  private readonly appliedEventIds = new Set<string>();
  private out: Delivery[] = [];

  constructor(readonly limits: ModelLimits) {}

  // ---- read access for the generator and the test ----

  project(p: string): ProjectState {
    let s = this.projects.get(p);
    if (!s) {
      s = {
        doc: undefined,
        requests: new Map(),
        messages: new Map(),
        projectUsers: new Map(),
        events: new Map(),
        bots: new Map(),
        deletedRequests: new Map(),
      };
      this.projects.set(p, s);
    }
    return s;
  }

  requestByRequestId(p: string, requestId: string): Doc | undefined {
    for (const r of this.project(p).requests.values()) if (r.request_id === requestId) return r;
    return undefined;
  }

  memberPu(p: string, user: string): Doc | undefined {
    for (const pu of this.project(p).projectUsers.values()) if (userOf(pu) === user && isMember(pu)) return pu;
    return undefined;
  }

  /** The newest `limits.messages` messages of a request (the ones every store keeps), ascending createdAt. */
  recentMessages(p: string, requestId: string): Doc[] {
    const all = [...(this.project(p).messages.get(requestId)?.values() ?? [])];
    all.sort((a, b) => time(a.createdAt) - time(b.createdAt));
    return all.slice(Math.max(0, all.length - this.limits.messages));
  }

  isProjectEnabled(p: string): boolean {
    const doc = this.project(p).doc;
    return doc?.status === undefined || doc.status === 100;
  }

  subscriptions(conn: string): ReadonlyMap<string, TopicRef> {
    return this.connections.get(conn)!.subs;
  }

  isBusy(p: string, pu: Doc): boolean {
    const settings = this.project(p).doc?.settings;
    const projectLimit = settings?.max_agent_assigned_chat;
    let limit: number | undefined = typeof projectLimit === 'number' && projectLimit > -1 ? projectLimit : undefined;
    const own = pu.max_assigned_chat;
    if (typeof own === 'number' && (limit === undefined || own > limit)) limit = own;
    if (limit === undefined) return false;
    return Number(pu.number_assigned_requests ?? 0) >= limit;
  }

  wireProjectUser(p: string, pu: Doc): Doc {
    return { ...clone(pu), isBusy: this.isBusy(p, pu) };
  }

  // ---- connections and subscriptions ----

  connect(conn: string, user: string): void {
    this.connections.set(conn, { user, subs: new Map() });
  }

  unsubscribe(conn: string, topic: string): void {
    this.connections.get(conn)!.subs.delete(topic);
  }

  /** The answer to a subscribe; registers (or keeps) the subscription on success and drops it on error. */
  subscribe(conn: string, topic: string): ExpectedFrame {
    const c = this.connections.get(conn)!;
    const ref = parseTopic(topic);
    const answer = this.authorize(c.user, ref, topic);
    if (answer.action === 'error') c.subs.delete(topic);
    else c.subs.set(topic, ref);
    return answer;
  }

  private authorize(user: string, ref: TopicRef, topic: string): ExpectedFrame {
    const p = ref.project;
    const st = this.project(p);
    const forbidden: ExpectedFrame = { action: 'error', topic, code: 'forbidden' };
    const notFound: ExpectedFrame = { action: 'error', topic, code: 'not_found' };
    if (!this.isProjectEnabled(p)) return forbidden;
    const viewer = this.memberPu(p, user);
    if (!viewer) return forbidden;
    const snapshot = (message: unknown): ExpectedFrame => ({ action: 'publish', topic, method: 'CREATE', message });
    switch (ref.kind) {
      case 'requests':
        return snapshot(this.listSnapshot(p, user, scopeOf(viewer)));
      case 'request':
      case 'messages': {
        const req = this.requestByRequestId(p, ref.requestId);
        if (!req) return notFound;
        if (!canSee(scopeOf(viewer), user, req)) return forbidden;
        if (ref.kind === 'request') return snapshot(wireRequest(req));
        return snapshot(this.recentMessages(p, ref.requestId).map(clone));
      }
      case 'projectUser': {
        if (viewer._id !== ref.puId) return forbidden;
        return snapshot(this.wireProjectUser(p, viewer));
      }
      case 'projectUserByUser': {
        const pu = [...st.projectUsers.values()].find((x) => x.status === 'active' && (userOf(x) === ref.user || x.uuid_user === ref.user));
        if (!pu) return notFound;
        return snapshot(this.wireProjectUser(p, pu));
      }
      case 'events':
        return snapshot(this.eventSnapshot(p, ref.puId, ref.name));
      case 'bot': {
        const bot = st.bots.get(ref.botId);
        return snapshot(bot ? clone(bot) : null);
      }
    }
  }

  listSnapshot(p: string, user: string, scope: Scope): Doc[] {
    return this.visibleListed(p, user, scope).slice(0, this.limits.requests).map(wireRequest);
  }

  private visibleListed(p: string, user: string, scope: Scope): Doc[] {
    return [...this.project(p).requests.values()].filter((r) => isListed(r) && canSee(scope, user, r)).sort(listOrder);
  }

  eventSnapshot(p: string, puId: string, name: string | undefined): Doc[] {
    const all = (this.project(p).events.get(puId) ?? []).filter((e) => name === undefined || e.name === name);
    return [...all]
      .sort((a, b) => time(b.createdAt) - time(a.createdAt))
      .slice(0, this.limits.events)
      .map(clone);
  }

  // ---- ingest ----

  /** Applies one envelope; returns what it changed and the frames it causes. */
  apply(envelope: { type: string; data: Doc; id?: string }): { outcome: Outcome; deliveries: Delivery[] } {
    this.out = [];
    if (envelope.id !== undefined && this.appliedEventIds.has(envelope.id)) return { outcome: 'duplicate', deliveries: [] };
    const outcome = this.dispatch(envelope.type, envelope.data);
    if (outcome === 'applied' && envelope.id !== undefined) this.appliedEventIds.add(envelope.id);
    return { outcome, deliveries: this.out };
  }

  private dispatch(type: string, data: Doc): Outcome {
    switch (type) {
      case 'project.update':
        return this.projectUpdate(data);
      case 'project_user.create':
      case 'project_user.update':
      case 'project_user_update':
        return this.projectUserUpsert(data.updatedProject_userPopulated ?? data);
      case 'project_user.delete':
        return this.projectUserDelete(data);
      case 'request.create':
      case 'request.update':
      case 'request_create':
      case 'request_update':
        return this.requestUpsert(data);
      case 'request.delete':
        return this.requestDelete(data);
      case 'message.create':
      case 'message.update':
      case 'message_create':
        return this.messageUpsert(data);
      case 'event.emit':
        return this.eventEmit(data);
      case 'faqbot.update':
      case 'faqbot_update':
        return this.botUpsert(data);
      default:
        throw new Error(`model: unsupported event type ${type}`);
    }
  }

  private emit(conn: string, frame: ExpectedFrame): void {
    this.out.push({ conn, frame });
  }

  /** Every (connection, subscription) holding exactly this topic. */
  private holders(topic: string): { conn: string; c: Connection }[] {
    const res: { conn: string; c: Connection }[] = [];
    for (const [conn, c] of this.connections) if (c.subs.has(topic)) res.push({ conn, c });
    return res;
  }

  private publish(topic: string, method: 'CREATE' | 'UPDATE' | 'DELETE', message: unknown): void {
    for (const { conn } of this.holders(topic)) this.emit(conn, { action: 'publish', topic, method, message: clone(message) });
  }

  private endSubscription(conn: string, topic: string, code: 'forbidden' | 'not_found'): void {
    const c = this.connections.get(conn)!;
    if (!c.subs.delete(topic)) return;
    this.emit(conn, { action: 'error', topic, code });
  }

  /** Ends every subscription to project p held by connections of `user` (or of everyone when user is undefined). */
  private endProjectSubscriptions(p: string, user: string | undefined): void {
    for (const [conn, c] of this.connections) {
      if (user !== undefined && c.user !== user) continue;
      for (const [topic, ref] of [...c.subs]) if (ref.project === p) this.endSubscription(conn, topic, 'forbidden');
    }
  }

  private projectUpdate(data: Doc): Outcome {
    const p = data._id as string;
    const st = this.project(p);
    const prev = st.doc;
    if (prev && isStale(prev, data)) return 'stale';
    if (prev && canonical(prev) === canonical(data)) return 'identical';
    const busyBefore = new Map<string, boolean>();
    for (const pu of st.projectUsers.values()) busyBefore.set(pu._id, this.isBusy(p, pu));
    const wasEnabled = this.isProjectEnabled(p);
    st.doc = clone(data);
    // Every project_user whose isBusy changes, members or not: T5 may be held on any active project_user,
    // and a disabled one may still be watched from before (ingest.md says "affected members"; see the report).
    for (const pu of st.projectUsers.values()) {
      if (busyBefore.get(pu._id) === this.isBusy(p, pu)) continue;
      this.publishProjectUser(p, pu, 'UPDATE', this.wireProjectUser(p, pu));
    }
    if (wasEnabled && !this.isProjectEnabled(p)) this.endProjectSubscriptions(p, undefined);
    return 'applied';
  }

  private projectUserTopics(p: string, pu: Doc): string[] {
    const topics = [`/${p}/project_users/${pu._id}`];
    const user = userOf(pu);
    if (user !== undefined) topics.push(`/${p}/project_users/users/${user}`);
    if (typeof pu.uuid_user === 'string' && pu.uuid_user !== user) topics.push(`/${p}/project_users/users/${pu.uuid_user}`);
    return topics;
  }

  private publishProjectUser(p: string, pu: Doc, method: 'UPDATE' | 'DELETE', message: Doc): void {
    for (const topic of this.projectUserTopics(p, pu)) this.publish(topic, method, message);
  }

  private projectUserUpsert(data: Doc): Outcome {
    const p = data.id_project as string;
    const st = this.project(p);
    const prev = st.projectUsers.get(data._id);
    if (prev && isStale(prev, data)) return 'stale';
    if (prev && canonical(prev) === canonical(data)) return 'identical';
    const next = clone(data);
    st.projectUsers.set(next._id, next);
    this.publishProjectUser(p, next, 'UPDATE', this.wireProjectUser(p, next));
    const user = userOf(next)!;
    if (!isMember(next)) {
      this.endProjectSubscriptions(p, user);
      return 'applied';
    }
    if (prev && isMember(prev) && scopeOf(prev) !== scopeOf(next)) this.scopeChanged(p, user, scopeOf(prev), scopeOf(next));
    return 'applied';
  }

  private scopeChanged(p: string, user: string, before: Scope, after: Scope): void {
    const lost = this.visibleListed(p, user, before).filter((r) => !canSee(after, user, r));
    const snapshot = this.listSnapshot(p, user, after);
    for (const [conn, c] of this.connections) {
      if (c.user !== user) continue;
      for (const [topic, ref] of [...c.subs]) {
        if (ref.project !== p) continue;
        if (ref.kind === 'requests') {
          for (const r of lost) this.emit(conn, { action: 'publish', topic, method: 'DELETE', message: requestStub(r) });
          this.emit(conn, { action: 'publish', topic, method: 'CREATE', message: clone(snapshot) });
        } else if (ref.kind === 'request' || ref.kind === 'messages') {
          // A T2 subscription whose request was deleted is judged on the request as it was last seen
          // (unspecified case; chosen rule: it ends like any other that lost sight of its request).
          const req = this.requestByRequestId(p, ref.requestId) ?? this.project(p).deletedRequests.get(ref.requestId);
          if (req && !canSee(after, user, req)) this.endSubscription(conn, topic, 'forbidden');
        }
      }
    }
  }

  private projectUserDelete(data: Doc): Outcome {
    const p = data.id_project as string;
    const st = this.project(p);
    const prev = st.projectUsers.get(data._id);
    if (!prev) return 'unknown';
    st.projectUsers.delete(prev._id);
    const stub: Doc = { _id: prev._id, id_project: prev.id_project, id_user: userOf(prev), uuid_user: prev.uuid_user ?? null };
    this.publishProjectUser(p, prev, 'DELETE', stub);
    this.endProjectSubscriptions(p, userOf(prev));
    return 'applied';
  }

  private requestUpsert(data: Doc): Outcome {
    const p = data.id_project as string;
    const st = this.project(p);
    const prev = st.requests.get(data._id);
    if (prev && isStale(prev, data)) return 'stale';
    if (prev && canonical(prev) === canonical(data)) return 'identical';
    const next = clone(data);
    st.requests.set(next._id, next);
    const wire = wireRequest(next);
    // T1
    for (const { conn, c } of this.holders(`/${p}/requests`)) {
      const viewer = this.memberPu(p, c.user);
      if (!viewer) continue;
      const scope = scopeOf(viewer);
      const topic = `/${p}/requests`;
      const was = prev !== undefined && isListed(prev) && canSee(scope, c.user, prev);
      const now = isListed(next) && canSee(scope, c.user, next);
      if (now) {
        const method = prev === undefined || !isListed(prev) ? 'CREATE' : 'UPDATE';
        this.emit(conn, { action: 'publish', topic, method, message: clone(wire) });
      } else if (was) {
        if (next.status === 1000) {
          this.emit(conn, { action: 'publish', topic, method: 'UPDATE', message: clone(wire) });
        } else if (next.draft === true || next.preflight === true) {
          this.emit(conn, { action: 'publish', topic, method: 'DELETE', message: requestStub(next) });
        } else {
          this.emit(conn, { action: 'publish', topic, method: 'UPDATE', message: clone(wire) });
          this.emit(conn, { action: 'publish', topic, method: 'DELETE', message: requestStub(next) });
        }
      }
    }
    // T2 and T3
    const requestTopic = `/${p}/requests/${next.request_id}`;
    for (const topic of [requestTopic, `${requestTopic}/messages`]) {
      for (const { conn, c } of this.holders(topic)) {
        const viewer = this.memberPu(p, c.user);
        if (!viewer || !canSee(scopeOf(viewer), c.user, next)) this.endSubscription(conn, topic, 'forbidden');
        else if (topic === requestTopic) this.emit(conn, { action: 'publish', topic, method: 'UPDATE', message: clone(wire) });
      }
    }
    return 'applied';
  }

  private requestDelete(data: Doc): Outcome {
    const p = data.id_project as string;
    const st = this.project(p);
    const prev = data._id !== undefined ? st.requests.get(data._id) : this.requestByRequestId(p, data.request_id);
    if (!prev) return 'unknown';
    for (const { conn, c } of this.holders(`/${p}/requests`)) {
      const viewer = this.memberPu(p, c.user);
      if (viewer && isListed(prev) && canSee(scopeOf(viewer), c.user, prev)) {
        this.emit(conn, { action: 'publish', topic: `/${p}/requests`, method: 'DELETE', message: requestStub(prev) });
      }
    }
    const requestTopic = `/${p}/requests/${prev.request_id}`;
    this.publish(requestTopic, 'DELETE', requestStub(prev));
    for (const { conn } of this.holders(`${requestTopic}/messages`)) this.endSubscription(conn, `${requestTopic}/messages`, 'not_found');
    st.requests.delete(prev._id);
    st.messages.delete(prev.request_id);
    st.deletedRequests.set(prev.request_id, prev);
    return 'applied';
  }

  private messageUpsert(data: Doc): Outcome {
    const p = data.id_project as string;
    const st = this.project(p);
    const requestId = data.recipient as string;
    let byId = st.messages.get(requestId);
    if (!byId) {
      byId = new Map();
      st.messages.set(requestId, byId);
    }
    const stored = clone(data);
    delete stored.request;
    const prev = byId.get(data._id);
    if (prev && isStale(prev, stored)) return 'stale';
    if (prev && canonical(prev) === canonical(stored)) return 'identical';
    byId.set(stored._id, stored);
    this.publish(`/${p}/requests/${requestId}/messages`, prev ? 'UPDATE' : 'CREATE', data);
    return 'applied';
  }

  private eventEmit(data: Doc): Outcome {
    const p = data.id_project as string;
    const st = this.project(p);
    const puId = idOf(data.project_user)!;
    const list = st.events.get(puId) ?? [];
    list.push(clone(data));
    st.events.set(puId, list);
    this.publish(`/${p}/events/${puId}`, 'CREATE', data);
    if (typeof data.name === 'string') this.publish(`/${p}/events/${puId}/${data.name}`, 'CREATE', data);
    return 'applied';
  }

  private botUpsert(data: Doc): Outcome {
    const p = data.id_project as string;
    const st = this.project(p);
    const next = clone(data);
    delete next.secret;
    const prev = st.bots.get(next._id);
    if (prev && isStale(prev, next)) return 'stale';
    if (prev && canonical(prev) === canonical(next)) return 'identical';
    st.bots.set(next._id, next);
    this.publish(`/${p}/bots/${next._id}`, 'UPDATE', next);
    return 'applied';
  }
}

// ================================================================================================
// The scenario: a seeded random sequence of ingested events and subscribes, across two projects and
// members of every role, played against running nodes of the service and against the model.
// ================================================================================================

/** The two projects; a run may suffix their ids (AccessScenarioOptions.runId). */
const PROJECTS = ['pA', 'pB'] as const;
const USERS = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8', 'u9', 'u10'];
const EVENT_NAMES = ['login', 'logout', 'presence', 'typing'];

/** Initial project_users: every role, custom roles with and without permissions, a `user`, a disabled one, a non-member. */
const INITIAL_MEMBERS: Record<string, Record<string, Doc | null>> = {
  pA: {
    u1: { role: 'owner' },
    u2: { role: 'admin' },
    u3: { role: 'supervisor' },
    u4: { role: 'agent' },
    u5: { role: 'agent', permissions: ['request_read_all'] },
    u6: { role: 'triage', roleType: 1, rolePermissions: ['request_read_group'] },
    u7: { role: 'reviewer', roleType: 1 },
    u8: { role: 'user', roleType: 2 },
    u9: { role: 'agent', status: 'disabled' },
    u10: null,
  },
  pB: {
    u1: { role: 'agent' },
    u2: null,
    u3: { role: 'owner' },
    u4: { role: 'supervisor', permissions: ['request_read_group'] },
    u5: { role: 'admin', permissions: ['chat_export'] },
    u6: { role: 'user', roleType: 2 },
    u7: { role: 'admin' },
    u8: { role: 'agent', max_assigned_chat: 5 },
    u9: { role: 'billing', roleType: 2 },
    u10: { role: 'admin', status: 'disabled' },
  },
};

/** Kinds of frames (see AccessScenario.count) every default run must have produced at least once. */
export const COVERED = [
  'requests CREATE snapshot',
  'requests CREATE live',
  'requests UPDATE live',
  'requests DELETE live',
  'requests CREATE(list after scope change) live',
  'requests forbidden live',
  'requests forbidden snapshot',
  'request CREATE snapshot',
  'request UPDATE live',
  'request DELETE live',
  'request forbidden live',
  'request not_found snapshot',
  'messages CREATE snapshot',
  'messages CREATE live',
  'messages UPDATE live',
  'messages forbidden live',
  'messages not_found live',
  'projectUser CREATE snapshot',
  'projectUser UPDATE live',
  'projectUser DELETE live',
  'projectUser forbidden live',
  'projectUser forbidden snapshot',
  'projectUserByUser CREATE snapshot',
  'projectUserByUser UPDATE live',
  'projectUserByUser DELETE live',
  'projectUserByUser not_found snapshot',
  'events CREATE snapshot',
  'events CREATE live',
  'events forbidden live',
  'bot CREATE snapshot',
  'bot UPDATE live',
  'bot forbidden live',
];

/** Connection name -> user; u1 and u4 hold two connections each. */
const CONNECTIONS: [string, string][] = [...USERS.map((u): [string, string] => [`c-${u}`, u]), ['c-u1-b', 'u1'], ['c-u4-b', 'u4']];

/** A running node of the service: the in-process app (TestApp) or a replica process (ReplicaProcess). */
export interface AccessNode {
  ingestOk(body: unknown): Promise<unknown>;
  connect(userId: string): Promise<TestClient>;
}

export interface AccessScenarioOptions {
  seed: number;
  limits: ModelLimits;
  /** Named in failure messages ('memory', 'replicas on redis'). */
  label: string;
  /**
   * The nodes, by name. Connections are spread over them in turn (the connections of one user on different
   * nodes) and ingest goes to one chosen by a generator of its own, so the scenario is the same on any number.
   */
  nodes: Record<string, AccessNode>;
  /**
   * How a check proves that every frame caused so far has arrived.
   * - 'sync': the node delivers every frame of an ingest before it answers 202 (memory engine), so one ping
   *   round trip per client after the ingest is enough.
   * - 'fence': frames reach the nodes after the 202 (Redis pub/sub). A watcher connection on every node holds
   *   a fence topic in every project; each check ingests one fence event per project and waits until every
   *   watcher has all the frames the model gives it. A project's envelopes travel on one channel
   *   (operations.md §1) and a node hands them to its sockets in that order, so once its watcher has the
   *   fence it has written every earlier frame of that project to every socket; the ping round trip that
   *   follows proves they arrived (and that no extra frame of these envelopes is still on its way).
   */
  barrier: 'sync' | 'fence';
  /** Appended to project ids and envelope ids so that runs sharing one store do not collide ('' for none). */
  runId: string;
}

interface Conn {
  name: string;
  user: string;
  /** The node the connection is on. */
  at: string;
  client: TestClient;
  cursor: number;
  pending: Map<string, ExpectedFrame[]>;
  /** Subscribes sent since the last check, per topic: each is answered by a snapshot or an error. */
  answers: Map<string, number>;
}

type Envelope = { type: string; data: Doc; id?: string };

/** The fence watchers' user: an owner of both projects that the generator never touches. */
const WATCHER = 'watcher';
const FENCE_EVENT = 'fence';
/** How long a check waits for the fence before it compares what has arrived (and reports what has not). */
const FENCE_TIMEOUT_MS = 10_000;
/** How long a check waits for the answer to a subscribe (a wave sends a few hundred at once). */
const ANSWER_TIMEOUT_MS = 10_000;

/** ACCESS_SEED=<n>[,<n>...] replays given seeds instead of the defaults. */
export function seedsFromEnv(defaults: number[]): number[] {
  const raw = process.env.ACCESS_SEED;
  if (!raw) return defaults;
  return raw.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n)) throw new Error(`ACCESS_SEED: not an integer: ${s}`);
    return n;
  });
}

/** ACCESS_STEPS=<n> changes the number of random steps. */
export function stepsFromEnv(defaultSteps: number): number {
  const raw = process.env.ACCESS_STEPS;
  if (!raw) return defaultSteps;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`ACCESS_STEPS: not a step count: ${raw}`);
  return n;
}

/** True when the run is a default one (no seed or step override): only then is the coverage asserted. */
export function isDefaultRun(): boolean {
  return !process.env.ACCESS_SEED && !process.env.ACCESS_STEPS;
}

/** Odd seeds run with small history limits (to exercise the T1/T3/T6 limits), even seeds with the defaults. */
export function limitsFor(seed: number): ModelLimits {
  return seed % 2 === 1 ? { requests: 5, messages: 4, events: 3 } : { requests: 100, messages: 300, events: 20 };
}

/** The service settings that give a node these limits. */
export function limitsEnv(limits: ModelLimits): Record<string, string> {
  return {
    WS_HISTORY_REQUESTS_LIMIT: String(limits.requests),
    WS_HISTORY_MESSAGES_LIMIT: String(limits.messages),
    WS_HISTORY_EVENTS_LIMIT: String(limits.events),
  };
}

/** What a frame is compared on: publish -> topic, method, full message; error -> topic and code. */
function observed(f: Frame): ExpectedFrame {
  if (f.action === 'error') return { action: 'error', topic: f.payload.topic as string, code: f.payload.code };
  return { action: f.action as 'publish', topic: f.payload.topic as string, method: f.payload.method as any, message: f.payload.message };
}

function short(v: unknown, max = 1500): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

/**
 * One seeded run: the generator, the nodes, the clients and the model. After every step every client must
 * have received exactly the frames the model predicts, per topic and in order: nothing more, nothing less.
 * The generator draws from the seed alone (never from the nodes or the barrier), so one seed is the same
 * scenario on the memory app and on replicas.
 */
export class AccessScenario {
  readonly seed: number;
  readonly limits: ModelLimits;
  readonly rng: Random;
  readonly model: AccessModel;
  /** The connections the scenario plays with. */
  readonly conns: Conn[] = [];
  /** 'fence' barrier only: one connection per node holding the fence topics (checked like the others). */
  readonly watchers: Conn[] = [];
  /** Project ids, in the order of PROJECTS. */
  readonly projects: string[];
  private readonly nodes: [string, AccessNode][];
  private readonly byName = new Map<string, Conn>();
  /** Chooses the node of each ingest: a generator of its own, so that the scenario does not depend on it. */
  private readonly route: Random;
  private clock: number;
  private readonly fenceClock: number;
  private counters = { request: 0, message: 0, event: 0, envelope: 0, oid: 0, fence: 0 };
  private appliedEnvelopeIds: string[] = [];
  private readonly trace: string[] = [];
  stats = { events: 0, stale: 0, identical: 0, duplicate: 0, subscribes: 0, frames: 0, errors: 0, fences: 0 };

  constructor(readonly options: AccessScenarioOptions) {
    this.seed = options.seed;
    this.limits = options.limits;
    this.rng = new Random(options.seed);
    this.route = new Random(options.seed ^ 0x5bd1e995);
    this.model = new AccessModel(options.limits);
    this.nodes = Object.entries(options.nodes);
    if (this.nodes.length === 0) throw new Error('AccessScenario needs at least one node');
    this.projects = PROJECTS.map((p) => (options.runId ? `${p}-${options.runId}` : p));
    // Timestamps within the retention windows (relative to the wall clock), whole seconds so that the order is
    // exact, and an hour ahead of it: every document the scenario re-creates after a delete is dated after the
    // delete was accepted, so tombstones never make one stale (their own rule is tested in the ReadModel contract
    // and test/security/tombstones.e2e-spec.ts), while re-creation stays part of every scenario.
    this.clock = Math.floor(Date.now() / 1000) * 1000 + 60 * 60 * 1000;
    // Fence events keep a clock of their own (distinct times, and the scenario's own times stay as they are).
    this.fenceClock = this.clock;
  }

  /** Closes every client of the run. */
  close(): void {
    for (const c of [...this.conns, ...this.watchers]) c.client.close();
  }

  /** The kinds of COVERED this run never produced. */
  missingCoverage(): string[] {
    return COVERED.filter((k) => !this.coverage.get(k));
  }

  /** The coverage, one kind a line (for ACCESS_VERBOSE). */
  coverageReport(): string {
    const lines = [...this.coverage].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `  ${k}: ${n}`);
    return `${this.options.label} seed ${this.seed} ${JSON.stringify(this.stats)}\n${lines.join('\n')}`;
  }

  // ---- time and ids ----

  private ts(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString();
  }

  /** Usually a new, later time; sometimes the current one again (ties on updatedAt). */
  private updateTs(): string {
    return this.rng.chance(0.08) ? new Date(this.clock).toISOString() : this.ts();
  }

  /** A unique time in the past (out-of-order arrival). */
  private pastTs(): string {
    this.counters.oid += 1;
    return new Date(this.clock - this.rng.between(2, 120) * 1000 - (this.counters.oid % 997) - 1).toISOString();
  }

  private oid(): string {
    let s = '';
    for (let i = 0; i < 24; i += 1) s += '0123456789abcdef'[this.rng.int(16)];
    return s;
  }

  private nextRequestId(p: string, ahead = 1): string {
    return `support-group-${p}-${String(this.counters.request + ahead).padStart(4, '0')}`;
  }

  // ---- documents ----

  private projectDoc(p: string, overrides: Doc = {}): Doc {
    return { _id: p, name: `Project ${p}`, status: 100, settings: { max_agent_assigned_chat: 2 }, updatedAt: this.ts(), ...overrides };
  }

  private projectUserDoc(p: string, user: string, spec: Doc): Doc {
    const role = spec.role as string;
    const doc: Doc = {
      _id: `pu-${p}-${user}`,
      id_project: p,
      id_user: this.rng.chance(0.2) ? { _id: user, firstname: `First ${user}`, lastname: 'Last', email: `${user}@example.test` } : user,
      role,
      roleType: role === 'user' || role === 'guest' ? 2 : 1,
      status: 'active',
      user_available: true,
      number_assigned_requests: this.rng.between(0, 3),
      presence: { status: 'online', changedAt: this.ts() },
      createdAt: this.ts(),
      updatedAt: this.ts(),
      __v: 0,
      ...spec,
    };
    if (this.rng.chance(0.5)) doc.uuid_user = `uuid-${p}-${user}`;
    return doc;
  }

  private requestDoc(p: string): Doc {
    this.counters.request += 1;
    const requestId = this.nextRequestId(p, 0);
    const agents = this.rng.subset(USERS, 0.15).slice(0, 2);
    const participants = this.rng.chance(0.6) ? [...agents] : this.rng.subset(USERS, 0.15).slice(0, 2);
    if (this.rng.chance(0.2)) participants.push('bot_support');
    const ts = this.ts();
    const doc: Doc = {
      _id: this.oid(),
      request_id: requestId,
      id_project: p,
      status: Number(this.rng.weighted({ '100': 3, '200': 5, '300': 1, '50': 1, '150': 0.5 })),
      first_text: `Help needed #${this.counters.request}`,
      department: { _id: 'dep-1', name: 'Default' },
      channel: { name: 'chat21' },
      attributes: { sourcePage: `https://example.test/${this.counters.request}` },
      createdAt: ts,
      updatedAt: ts,
      __v: 0,
    };
    if (this.rng.chance(0.9)) doc.participants = participants;
    if (this.rng.chance(0.1)) doc.draft = true;
    doc.preflight = this.rng.chance(0.1);
    const leadKind = this.rng.pick(['string', 'object', 'none']);
    if (leadKind === 'string') doc.lead = `lead-${requestId}`;
    if (leadKind === 'object') doc.lead = { _id: `lead-${requestId}`, fullname: 'Visitor', email: 'visitor@example.test' };
    if (this.rng.chance(0.95)) {
      const snapshot: Doc = { department: { _id: 'dep-1', name: 'Default' } };
      if (agents.length > 0 || this.rng.chance(0.5)) {
        snapshot.agents = agents.map((u) => ({ _id: `pu-${p}-${u}`, id_user: u, role: 'agent', firstname: 'Agent' }));
      }
      const requesterRole = this.rng.pick(['guest', 'user', 'none']);
      if (requesterRole !== 'none')
        snapshot.requester = { _id: `pu-guest-${requestId}`, role: requesterRole, uuid_user: `guest-${requestId}` };
      if (leadKind !== 'none') snapshot.lead = { _id: `lead-${requestId}`, fullname: 'Visitor' };
      doc.snapshot = snapshot;
    }
    return doc;
  }

  private mutateRequest(p: string, prev: Doc): Doc {
    const next = JSON.parse(JSON.stringify(prev)) as Doc;
    const kind = this.rng.weighted({ status: 3, close: 2, reopen: 2, draft: 1, preflight: 1, participants: 3, reassign: 3, text: 2 });
    switch (kind) {
      case 'status':
        next.status = Number(this.rng.pick(['50', '100', '150', '200', '300', '1000']));
        break;
      case 'close':
        next.status = 1000;
        next.closed_at = this.ts();
        break;
      case 'reopen':
        next.status = 200;
        break;
      case 'draft':
        if (next.draft === true) delete next.draft;
        else next.draft = true;
        break;
      case 'preflight':
        next.preflight = next.preflight !== true;
        break;
      case 'participants': {
        const current: string[] = Array.isArray(next.participants) ? next.participants : [];
        const u = this.rng.pick(USERS);
        next.participants = current.includes(u) ? current.filter((x) => x !== u) : [...current, u];
        break;
      }
      case 'reassign': {
        const agents = this.rng.subset(USERS, 0.2).slice(0, 2);
        next.snapshot = { ...(next.snapshot ?? {}), agents: agents.map((u) => ({ _id: `pu-${p}-${u}`, id_user: u, role: 'agent' })) };
        if (this.rng.chance(0.7)) next.participants = [...agents];
        break;
      }
      case 'text':
        next.first_text = `${String(next.first_text)} (edited)`;
        break;
    }
    next.updatedAt = this.updateTs();
    next.__v = Number(next.__v ?? 0) + 1;
    return next;
  }

  private mutateProjectUser(prev: Doc): Doc {
    const next = JSON.parse(JSON.stringify(prev)) as Doc;
    const kind = this.rng.weighted({ role: 3, permissions: 2, rolePermissions: 1, status: 1.5, assigned: 3, max: 1, presence: 1 });
    switch (kind) {
      case 'role': {
        const role = this.rng.pick(['owner', 'admin', 'supervisor', 'agent', 'agent', 'user', 'guest', 'triage', 'billing']);
        next.role = role;
        next.roleType = role === 'user' || role === 'guest' || role === 'billing' ? 2 : 1;
        break;
      }
      case 'permissions':
        next.permissions = this.rng.pick([
          [],
          ['request_read_all'],
          ['request_read_group'],
          ['chat_export'],
          ['request_read_group', 'request_read_all'],
        ]);
        if (this.rng.chance(0.2)) delete next.permissions;
        break;
      case 'rolePermissions':
        next.rolePermissions = this.rng.pick([[], ['request_read_group'], ['request_read_all'], ['lead_read']]);
        break;
      case 'status':
        next.status = next.status === 'active' ? 'disabled' : 'active';
        break;
      case 'assigned':
        next.number_assigned_requests = this.rng.between(0, 6);
        break;
      case 'max':
        if (this.rng.chance(0.3)) delete next.max_assigned_chat;
        else next.max_assigned_chat = this.rng.pick([1, 2, 4]);
        break;
      case 'presence':
        next.user_available = !next.user_available;
        next.presence = { status: next.user_available ? 'online' : 'offline', changedAt: this.ts() };
        break;
    }
    next.updatedAt = this.updateTs();
    next.__v = Number(next.__v ?? 0) + 1;
    return next;
  }

  private messageDoc(p: string, requestId: string): Doc {
    this.counters.message += 1;
    const createdAt = this.rng.chance(0.1) ? this.pastTs() : this.ts();
    const doc: Doc = {
      _id: `msg-${p}-${this.counters.message}`,
      id_project: p,
      recipient: requestId,
      sender: this.rng.pick([...USERS, `guest-${requestId}`]),
      senderFullname: 'Someone',
      type: 'text',
      text: `message ${this.counters.message}`,
      status: 200,
      channel_type: 'group',
      attributes: { n: this.counters.message },
      createdAt,
      updatedAt: createdAt,
      __v: 0,
    };
    return doc;
  }

  private eventDoc(p: string): Doc {
    this.counters.event += 1;
    const puIds = this.projectUsers(p).map((pu) => pu._id as string);
    const puId = this.rng.chance(0.9) && puIds.length > 0 ? this.rng.pick(puIds) : `pu-${p}-${this.rng.pick(USERS)}`;
    return {
      _id: `ev-${p}-${this.counters.event}`,
      id_project: p,
      name: this.rng.pick(EVENT_NAMES),
      project_user: this.rng.chance(0.2) ? { _id: puId, role: 'agent' } : puId,
      attributes: { n: this.counters.event },
      status: 'stardard',
      createdAt: this.rng.chance(0.15) ? this.pastTs() : this.ts(),
    };
  }

  private botDoc(p: string, botId: string, prev: Doc | undefined): Doc {
    const doc: Doc = {
      _id: botId,
      id_project: p,
      name: `Bot ${botId}`,
      type: 'internal',
      trained: this.rng.chance(0.5),
      language: this.rng.pick(['en', 'it']),
      updatedAt: this.updateTs(),
      __v: prev ? Number(prev.__v ?? 0) + 1 : 0,
    };
    if (this.rng.chance(0.5)) doc.secret = `secret-${this.rng.int(1e6)}`;
    return doc;
  }

  // ---- the random event generator ----

  private liveRequests(p: string): Doc[] {
    return [...this.model.project(p).requests.values()];
  }

  /** The project_users the generator may touch: all but the fence watcher's. */
  private projectUsers(p: string): Doc[] {
    return [...this.model.project(p).projectUsers.values()].filter((pu) => userOf(pu) !== WATCHER);
  }

  /** One random envelope, built from the model's current state. */
  private randomEnvelope(): Envelope {
    const disabled = this.projects.filter((x) => !this.model.isProjectEnabled(x));
    if (disabled.length > 0 && this.rng.chance(0.1)) {
      const doc = this.model.project(disabled[0]!).doc!;
      return { type: 'project.update', data: { ...doc, status: 100, updatedAt: this.ts() } };
    }
    const p = this.rng.pick(this.projects);
    const st = this.model.project(p);
    const requests = this.liveRequests(p);
    const kind = this.rng.weighted({
      requestCreate: 10,
      requestUpdate: 26,
      requestDelete: 3,
      requestStale: 3,
      messageCreate: 12,
      messageUpdate: 5,
      puUpdate: 11,
      puCreate: 1.5,
      puDelete: 1.5,
      scopeChange: 2,
      puStale: 1.5,
      eventEmit: 8,
      botUpdate: 4,
      projectUpdate: 3,
      identical: 3,
    });
    switch (kind) {
      case 'requestCreate':
        return { type: this.rng.chance(0.1) ? 'request_create' : 'request.create', data: this.requestDoc(p) };
      case 'requestUpdate':
        if (requests.length === 0) return { type: 'request.create', data: this.requestDoc(p) };
        return { type: this.rng.chance(0.1) ? 'request_update' : 'request.update', data: this.mutateRequest(p, this.rng.pick(requests)) };
      case 'requestDelete': {
        if (requests.length === 0) return { type: 'request.create', data: this.requestDoc(p) };
        const r = this.rng.pick(requests);
        const form = this.rng.pick(['_id', 'request_id', 'both']);
        const data: Doc = { id_project: p };
        if (form !== 'request_id') data._id = r._id;
        if (form !== '_id') data.request_id = r.request_id;
        return { type: 'request.delete', data };
      }
      case 'requestStale': {
        // Mostly stale versions (older updatedAt, or same updatedAt and lower __v).
        if (requests.length === 0) return { type: 'request.create', data: this.requestDoc(p) };
        const prev = this.rng.pick(requests);
        const next = this.mutateRequest(p, prev);
        if (this.rng.chance(0.2)) {
          // Same updatedAt and __v but other content: neither stale nor a duplicate, so it applies.
          next.updatedAt = prev.updatedAt;
          next.__v = prev.__v;
        } else if (Number(prev.__v) > 0 && this.rng.chance(0.4)) {
          next.updatedAt = prev.updatedAt;
          next.__v = Number(prev.__v) - 1;
        } else {
          next.updatedAt = new Date(new Date(prev.updatedAt as string).getTime() - this.rng.between(1, 30) * 1000).toISOString();
        }
        return { type: 'request.update', data: next };
      }
      case 'messageCreate': {
        if (requests.length === 0) return { type: 'request.create', data: this.requestDoc(p) };
        const r = this.rng.pick(requests);
        const m = this.messageDoc(p, r.request_id);
        if (this.rng.chance(0.2)) m.request = JSON.parse(JSON.stringify(r));
        return { type: this.rng.chance(0.1) ? 'message_create' : 'message.create', data: m };
      }
      case 'messageUpdate': {
        const withMessages = requests.filter((r) => this.model.recentMessages(p, r.request_id).length > 0);
        if (withMessages.length === 0) {
          if (requests.length === 0) return { type: 'request.create', data: this.requestDoc(p) };
          return { type: 'message.create', data: this.messageDoc(p, this.rng.pick(requests).request_id) };
        }
        const r = this.rng.pick(withMessages);
        const prev = this.rng.pick(this.model.recentMessages(p, r.request_id));
        const next: Doc = { ...prev, status: this.rng.pick([250, 300]), text: `${String(prev.text)}!` };
        if (this.rng.chance(0.15)) {
          next.updatedAt = new Date(new Date(prev.updatedAt as string).getTime() - 1000).toISOString();
        } else {
          next.updatedAt = this.ts();
          next.__v = Number(prev.__v ?? 0) + 1;
        }
        return { type: this.rng.chance(0.2) ? 'message.create' : 'message.update', data: next };
      }
      case 'puUpdate': {
        const pus = this.projectUsers(p);
        if (pus.length === 0) return { type: 'event.emit', data: this.eventDoc(p) };
        const next = this.mutateProjectUser(this.rng.pick(pus));
        if (this.rng.chance(0.15))
          return { type: 'project_user_update', data: { updatedProject_userPopulated: next, req: { method: 'PUT' } } };
        return { type: this.rng.chance(0.1) ? 'project_user.create' : 'project_user.update', data: next };
      }
      case 'puCreate': {
        const missing = USERS.filter((u) => !st.projectUsers.has(`pu-${p}-${u}`));
        if (missing.length === 0) return { type: 'project_user.update', data: this.mutateProjectUser(this.rng.pick(this.projectUsers(p))) };
        const role = this.rng.pick(['owner', 'admin', 'supervisor', 'agent', 'user', 'triage']);
        const spec: Doc = { role };
        if (role === 'triage') spec.rolePermissions = ['request_read_group'];
        if (this.rng.chance(0.2)) spec.status = 'disabled';
        return { type: 'project_user.create', data: this.projectUserDoc(p, this.rng.pick(missing), spec) };
      }
      case 'puDelete': {
        const pus = this.projectUsers(p);
        if (pus.length === 0) return { type: 'event.emit', data: this.eventDoc(p) };
        const members = pus.filter((pu) => isMember(pu));
        const target = members.length > 0 && this.rng.chance(0.7) ? this.rng.pick(members) : this.rng.pick(pus);
        return { type: 'project_user.delete', data: { _id: target._id, id_project: p } };
      }
      case 'scopeChange': {
        // A member who is watching /P/requests gets permissions that give it another scope.
        const watching = this.conns.filter((c) => this.model.subscriptions(c.name).has(`/${p}/requests`));
        const pu = watching.length > 0 ? this.model.memberPu(p, this.rng.pick(watching).user) : undefined;
        if (!pu) return { type: 'event.emit', data: this.eventDoc(p) };
        const options: [string[], string][] = [
          [['request_read_all'], 'all'],
          [['request_read_group'], 'group'],
          [['chat_export'], 'participants'],
        ];
        const [permissions] = this.rng.pick(options.filter(([, scope]) => scope !== scopeOf(pu)));
        const next = { ...JSON.parse(JSON.stringify(pu)), permissions, updatedAt: this.ts(), __v: Number(pu.__v ?? 0) + 1 };
        return { type: 'project_user.update', data: next };
      }
      case 'puStale': {
        const pus = this.projectUsers(p);
        if (pus.length === 0) return { type: 'event.emit', data: this.eventDoc(p) };
        const prev = this.rng.pick(pus);
        const next = this.mutateProjectUser(prev);
        next.updatedAt = new Date(new Date(prev.updatedAt as string).getTime() - this.rng.between(1, 30) * 1000).toISOString();
        return { type: 'project_user.update', data: next };
      }
      case 'eventEmit':
        return { type: 'event.emit', data: this.eventDoc(p) };
      case 'botUpdate': {
        const botId = this.rng.pick([`bot-${p}-1`, `bot-${p}-2`]);
        const prev = st.bots.get(botId);
        const next = this.botDoc(p, botId, prev);
        if (prev && this.rng.chance(0.2)) next.updatedAt = new Date(new Date(prev.updatedAt as string).getTime() - 1000).toISOString();
        return { type: this.rng.chance(0.2) ? 'faqbot_update' : 'faqbot.update', data: next };
      }
      case 'projectUpdate': {
        const prev = st.doc ?? this.projectDoc(p);
        const enabled = this.model.isProjectEnabled(p);
        if (!enabled) return { type: 'project.update', data: { ...prev, status: 100, updatedAt: this.ts() } };
        if (this.rng.chance(0.2)) return { type: 'project.update', data: { ...prev, status: 0, updatedAt: this.ts() } };
        const max = this.rng.pick([-1, 0, 1, 2, 3, 4, 'none']);
        return {
          type: 'project.update',
          data: { ...prev, settings: max === 'none' ? {} : { max_agent_assigned_chat: max }, updatedAt: this.ts() },
        };
      }
      case 'identical': {
        const pool: Envelope[] = [];
        if (requests.length > 0) pool.push({ type: 'request.update', data: this.rng.pick(requests) });
        const pus = this.projectUsers(p);
        if (pus.length > 0) pool.push({ type: 'project_user.update', data: this.rng.pick(pus) });
        const bots = [...st.bots.values()];
        if (bots.length > 0) pool.push({ type: 'faqbot.update', data: this.rng.pick(bots) });
        const withMessages = requests.filter((r) => this.model.recentMessages(p, r.request_id).length > 0);
        if (withMessages.length > 0) {
          pool.push({ type: 'message.create', data: this.rng.pick(this.model.recentMessages(p, this.rng.pick(withMessages).request_id)) });
        }
        if (pool.length === 0) return { type: 'event.emit', data: this.eventDoc(p) };
        const e = this.rng.pick(pool);
        return { type: e.type, data: JSON.parse(JSON.stringify(e.data)) };
      }
    }
  }

  private withEnvelopeId(e: Envelope): Envelope {
    if (this.appliedEnvelopeIds.length > 0 && this.rng.chance(0.04)) return { ...e, id: this.rng.pick(this.appliedEnvelopeIds) };
    if (this.rng.chance(0.3)) {
      this.counters.envelope += 1;
      const run = this.options.runId ? `${this.options.runId}-` : '';
      return { ...e, id: `evt-${run}${this.seed}-${this.counters.envelope}` };
    }
    return e;
  }

  // ---- topics ----

  /** Topics a connection of `user` subscribes to in project p: every topic kind, allowed or not. */
  private topicsFor(user: string, p: string): string[] {
    const requestIds = this.liveRequests(p).map((r) => r.request_id as string);
    // Mostly requests this user can see now (so that T2/T3 live traffic happens), some it cannot, one not yet created.
    const viewer = this.model.memberPu(p, user);
    const visible = viewer ? this.liveRequests(p).filter((r) => canSee(scopeOf(viewer), user, r)) : [];
    const pickIds = (n: number) => {
      const ids = new Set<string>();
      for (let k = 0; k < n && visible.length > 0; k += 1) ids.add(this.rng.pick(visible).request_id as string);
      if (requestIds.length > 0) ids.add(this.rng.pick(requestIds));
      return [...ids];
    };
    const topics = [`/${p}/requests`];
    for (const r of [...pickIds(3), this.nextRequestId(p, this.rng.between(1, 3))]) topics.push(`/${p}/requests/${r}`);
    for (const r of pickIds(3)) topics.push(`/${p}/requests/${r}/messages`);
    topics.push(`/${p}/project_users/pu-${p}-${user}`);
    topics.push(`/${p}/project_users/pu-${p}-${this.rng.pick(USERS)}`);
    const uuids = this.projectUsers(p)
      .map((pu) => pu.uuid_user as string | undefined)
      .filter((u): u is string => !!u);
    topics.push(`/${p}/project_users/users/${this.rng.pick(USERS)}`);
    if (uuids.length > 0) topics.push(`/${p}/project_users/users/${this.rng.pick(uuids)}`);
    topics.push(`/${p}/project_users/users/${user}`);
    topics.push(`/${p}/events/pu-${p}-${this.rng.pick(USERS)}`);
    topics.push(`/${p}/events/pu-${p}-${this.rng.pick(USERS)}/${this.rng.pick(EVENT_NAMES)}`);
    topics.push(`/${p}/events/pu-${p}-${user}/${this.rng.pick(EVENT_NAMES)}`);
    topics.push(`/${p}/bots/bot-${p}-1`, `/${p}/bots/bot-${p}-2`);
    return [...new Set(topics)];
  }

  /** How often each kind of expected frame occurred: `<topic kind> <method or error code> <snapshot|live>`. */
  readonly coverage = new Map<string, number>();

  private count(frame: ExpectedFrame, source: 'snapshot' | 'live'): void {
    let what = frame.method ?? frame.code ?? '?';
    if (source === 'live' && frame.method === 'CREATE' && Array.isArray(frame.message)) what = 'CREATE(list after scope change)';
    const key = `${parseTopic(frame.topic).kind} ${what} ${source}`;
    this.coverage.set(key, (this.coverage.get(key) ?? 0) + 1);
  }

  private expect(conn: Conn, frame: ExpectedFrame): void {
    const list = conn.pending.get(frame.topic) ?? [];
    list.push(frame);
    conn.pending.set(frame.topic, list);
  }

  private isWatcher(conn: Conn): boolean {
    return conn.user === WATCHER;
  }

  private subscribe(conn: Conn, topic: string): void {
    conn.client.send({ action: 'subscribe', payload: { topic } });
    conn.answers.set(topic, (conn.answers.get(topic) ?? 0) + 1);
    const answer = this.model.subscribe(conn.name, topic);
    this.expect(conn, answer);
    // The barrier's own traffic is checked like the rest but is no part of the scenario's coverage.
    if (this.isWatcher(conn)) return;
    this.count(answer, 'snapshot');
    this.stats.subscribes += 1;
  }

  private deliver(deliveries: Delivery[]): void {
    for (const d of deliveries) {
      const conn = this.byName.get(d.conn)!;
      if (!this.isWatcher(conn)) this.count(d.frame, 'live');
      this.expect(conn, d.frame);
    }
  }

  // ---- driving ----

  /** Ingests through one node (chosen by the routing generator), applies the same envelopes to the model; returns the node. */
  private async ingest(envelopes: Envelope[], what: 'scenario' | 'fence' = 'scenario', label?: string): Promise<string> {
    const [via, node] = this.route.pick(this.nodes);
    if (label !== undefined) this.note(`${label}: ingest${this.nodes.length > 1 ? ` via ${via}` : ''} ${short(envelopes, 2500)}`);
    await node.ingestOk(envelopes.length === 1 ? envelopes[0] : envelopes);
    for (const e of envelopes) {
      const { outcome, deliveries } = this.model.apply(e);
      if (what === 'fence') {
        this.stats.fences += 1;
      } else {
        this.stats.events += 1;
        if (outcome === 'stale') this.stats.stale += 1;
        if (outcome === 'identical') this.stats.identical += 1;
        if (outcome === 'duplicate') this.stats.duplicate += 1;
        if (outcome === 'applied' && e.id !== undefined) this.appliedEnvelopeIds.push(e.id);
      }
      this.deliver(deliveries);
    }
    return via;
  }

  /** Proves every frame caused so far has arrived, then compares each client's new frames with the model, per topic. */
  async check(step: string): Promise<void> {
    const all = [...this.conns, ...this.watchers];
    // Subscribes are answered asynchronously (the answer may follow a later pong): wait for each answer first.
    await Promise.all(all.map((c) => this.answered(c)));
    const barrier = this.options.barrier === 'fence' ? await this.fence() : '';
    await Promise.all(all.map((c) => c.client.sync()));
    const problems: string[] = [];
    for (const conn of all) {
      if (conn.client.closeInfo) problems.push(`${conn.name} (on ${conn.at}) was closed: ${JSON.stringify(conn.client.closeInfo)}`);
      const got = new Map<string, ExpectedFrame[]>();
      for (const f of conn.client.frames.slice(conn.cursor)) {
        if (f.action === 'heartbeat') continue;
        const o = observed(f);
        const key = String(o.topic);
        got.set(key, [...(got.get(key) ?? []), o]);
        if (this.isWatcher(conn)) continue;
        this.stats.frames += 1;
        if (o.action === 'error') this.stats.errors += 1;
      }
      conn.cursor = conn.client.frames.length;
      for (const topic of new Set([...conn.pending.keys(), ...got.keys()])) {
        const want = conn.pending.get(topic) ?? [];
        const have = got.get(topic) ?? [];
        if (canonical(want) === canonical(have)) continue;
        let i = 0;
        while (i < want.length && i < have.length && canonical(want[i]) === canonical(have[i])) i += 1;
        problems.push(
          [
            `${conn.name} (user ${conn.user}, on ${conn.at}) topic ${topic}: expected ${want.length} frame(s), got ${have.length}; first difference at #${i}`,
            `  expected: ${short(want[i] ?? '(nothing)')}`,
            `  got:      ${short(have[i] ?? '(nothing)')}`,
            `  all expected: ${outline(want)}`,
            `  all got:      ${outline(have)}`,
          ].join('\n'),
        );
      }
      conn.pending.clear();
    }
    if (problems.length > 0) {
      throw new Error(
        [
          `access model mismatch on ${this.options.label}: ACCESS_SEED=${this.seed} (limits ${JSON.stringify(this.limits)}) at ${step}${barrier ? ` (${barrier})` : ''}`,
          ...problems.slice(0, 8),
          problems.length > 8 ? `... and ${problems.length - 8} more` : '',
          'last steps:',
          ...this.trace.slice(-6),
        ].join('\n'),
      );
    }
  }

  /**
   * The 'fence' barrier (see AccessScenarioOptions.barrier). Watchers first take back the fence topic of every
   * enabled project they lost it in (disabling a project ends every subscription in it), then one fence event
   * per enabled project is ingested and every watcher must get all the frames the model gives it. A project
   * disabled in this step needs no fence: its watchers' expected `forbidden` comes after all its earlier frames.
   * Returns a note for the failure message. A watcher that misses a frame makes the wait time out: the
   * comparison that follows then reports the difference.
   */
  private async fence(): Promise<string> {
    for (const w of this.watchers) {
      for (const p of this.projects) {
        const topic = fenceTopic(p);
        if (this.model.isProjectEnabled(p) && !this.model.subscriptions(w.name).has(topic)) this.subscribe(w, topic);
      }
    }
    // The fence must not be in a watcher's snapshot: it is ingested once the answers are in.
    await Promise.all(this.watchers.map((w) => this.answered(w)));
    const fences = this.projects.filter((p) => this.model.isProjectEnabled(p)).map((p) => this.fenceEnvelope(p));
    const via = fences.length > 0 ? await this.ingest(fences, 'fence') : 'nowhere: every project is disabled';
    try {
      await waitFor(() => this.watchers.every((w) => this.hasExpected(w)), { timeoutMs: FENCE_TIMEOUT_MS, what: 'the fence' });
    } catch {
      return `the fence ingested via ${via} was not complete after ${FENCE_TIMEOUT_MS} ms`;
    }
    return `fence ingested via ${via}`;
  }

  /** At least as many frames on every topic as the model expects. */
  private hasExpected(conn: Conn): boolean {
    const got = new Map<string, number>();
    for (const f of conn.client.frames.slice(conn.cursor)) {
      if (f.action !== 'heartbeat') got.set(String(f.payload.topic), (got.get(String(f.payload.topic)) ?? 0) + 1);
    }
    for (const [topic, want] of conn.pending) if ((got.get(topic) ?? 0) < want.length) return false;
    return true;
  }

  private fenceEnvelope(p: string): Envelope {
    this.counters.fence += 1;
    const n = this.counters.fence;
    return {
      type: 'event.emit',
      data: {
        _id: `fence-${p}-${n}`,
        id_project: p,
        name: FENCE_EVENT,
        project_user: watcherPu(p),
        attributes: { fence: n },
        createdAt: new Date(this.fenceClock + n * 1000).toISOString(),
      },
    };
  }

  /** Keeps the last steps for the failure message. */
  private note(line: string): void {
    this.trace.push(line);
    if (this.trace.length > 20) this.trace.shift();
  }

  private async answered(conn: Conn): Promise<void> {
    const isAnswer = (f: Frame) => f.action === 'error' || (f.action === 'publish' && f.payload.method === 'CREATE');
    for (const [topic, n] of conn.answers) {
      await waitFor(() => conn.client.frames.slice(conn.cursor).filter((f) => f.payload.topic === topic && isAnswer(f)).length >= n, {
        timeoutMs: ANSWER_TIMEOUT_MS,
        what: `${n} answer(s) to ${conn.name}'s subscribe to ${topic} (on ${conn.at})`,
      });
    }
    conn.answers.clear();
  }

  private async open(name: string, user: string, [at, node]: [string, AccessNode]): Promise<Conn> {
    const client = await node.connect(user);
    this.model.connect(name, user);
    const conn: Conn = { name, user, at, client, cursor: 0, pending: new Map(), answers: new Map() };
    this.byName.set(name, conn);
    return conn;
  }

  async run(steps: number): Promise<void> {
    await this.populate();
    // Spread over the nodes in turn; further connections of a user go to the nodes after its first one's.
    const first = new Map<string, number>();
    const opened = new Map<string, number>();
    for (const [i, [name, user]] of CONNECTIONS.entries()) {
      if (!first.has(user)) first.set(user, i);
      const k = opened.get(user) ?? 0;
      opened.set(user, k + 1);
      this.conns.push(await this.open(name, user, this.nodes[(first.get(user)! + k) % this.nodes.length]!));
    }
    if (this.options.barrier === 'fence') {
      // The watchers subscribe their fence topics in the first check.
      for (const node of this.nodes) this.watchers.push(await this.open(`c-${WATCHER}-${node[0]}`, WATCHER, node));
    }
    for (const conn of this.conns) for (const p of this.projects) for (const t of this.topicsFor(conn.user, p)) this.subscribe(conn, t);
    this.note('initial subscribes');
    await this.check('initial snapshots');

    for (let i = 0; i < steps; i += 1) {
      const label = `step ${i}`;
      const action = this.rng.weighted({
        ingest: 84,
        batch: 8,
        resubscribe: 6,
        unsubscribe: 1,
        // Membership churn and disabled projects end subscriptions: everyone re-subscribes now and then.
        wave: i % 50 === 49 ? 1000 : 0.5,
      });
      if (action === 'ingest' || action === 'batch') {
        const n = action === 'batch' ? this.rng.between(2, 4) : 1;
        const envelopes: Envelope[] = [];
        for (let k = 0; k < n; k += 1) envelopes.push(this.withEnvelopeId(this.randomEnvelope()));
        await this.ingest(envelopes, 'scenario', label);
      } else if (action === 'resubscribe') {
        const conn = this.rng.pick(this.conns);
        const held = [...this.model.subscriptions(conn.name).keys()];
        const candidates = [...this.topicsFor(conn.user, this.rng.pick(this.projects)), ...held];
        const topics = this.rng.subset(candidates, 0.15).slice(0, 4);
        this.note(`${label}: ${conn.name} (on ${conn.at}) subscribes ${JSON.stringify(topics)}`);
        for (const t of topics) this.subscribe(conn, t);
      } else if (action === 'unsubscribe') {
        const conn = this.rng.pick(this.conns);
        const held = [...this.model.subscriptions(conn.name).keys()];
        if (held.length > 0) {
          const topic = this.rng.pick(held);
          this.note(`${label}: ${conn.name} (on ${conn.at}) unsubscribes ${topic}`);
          conn.client.send({ action: 'unsubscribe', payload: { topic } });
          this.model.unsubscribe(conn.name, topic);
        }
      } else {
        const chosen = i % 50 === 49 ? this.conns : this.rng.subset(this.conns, 0.3);
        this.note(`${label}: wave of re-subscribes by ${chosen.map((c) => c.name).join(', ')}`);
        for (const conn of chosen) for (const p of this.projects) for (const t of this.topicsFor(conn.user, p)) this.subscribe(conn, t);
      }
      await this.check(label);
    }
  }

  private async populate(): Promise<void> {
    const [pA, pB] = this.projects as [string, string];
    const envelopes: Envelope[] = [];
    envelopes.push({ type: 'project.update', data: this.projectDoc(pA, { settings: { max_agent_assigned_chat: 2 } }) });
    envelopes.push({ type: 'project.update', data: this.projectDoc(pB, { settings: {} }) });
    for (const [k, p] of this.projects.entries()) {
      for (const user of USERS) {
        const spec = INITIAL_MEMBERS[PROJECTS[k]!]![user];
        if (spec) envelopes.push({ type: 'project_user.create', data: this.projectUserDoc(p, user, spec) });
      }
      envelopes.push({ type: 'faqbot.update', data: this.botDoc(p, `bot-${p}-1`, undefined) });
    }
    for (const p of this.projects) {
      for (let i = 0; i < 8; i += 1) envelopes.push({ type: 'request.create', data: this.requestDoc(p) });
    }
    await this.ingest(envelopes);
    if (this.options.barrier === 'fence') {
      await this.ingest(
        this.projects.map((p) => ({ type: 'project_user.create', data: this.watcherDoc(p) })),
        'fence',
      );
    }
    const more: Envelope[] = [];
    for (const p of this.projects) {
      const requests = this.liveRequests(p);
      for (let i = 0; i < 12; i += 1) more.push({ type: 'message.create', data: this.messageDoc(p, this.rng.pick(requests).request_id) });
      for (let i = 0; i < 10; i += 1) more.push({ type: 'event.emit', data: this.eventDoc(p) });
    }
    await this.ingest(more);
  }

  /** The fence watchers' membership: an owner, built without the generator (it draws nothing from the seed). */
  private watcherDoc(p: string): Doc {
    const at = new Date(this.fenceClock).toISOString();
    return {
      _id: watcherPu(p),
      id_project: p,
      id_user: WATCHER,
      role: 'owner',
      roleType: 1,
      status: 'active',
      user_available: true,
      number_assigned_requests: 0,
      createdAt: at,
      updatedAt: at,
      __v: 0,
    };
  }
}

function watcherPu(p: string): string {
  return `pu-${p}-${WATCHER}`;
}

/** The topic a watcher holds in project p: the fence events of its own project_user. */
function fenceTopic(p: string): string {
  return `/${p}/events/${watcherPu(p)}/${FENCE_EVENT}`;
}

/** A one-line outline of frames: action, method or code, and the ids they carry. */
function outline(frames: ExpectedFrame[]): string {
  return short(
    frames.map((f) => [f.action, f.method ?? f.code, summarize(f.message)]),
    600,
  );
}

function summarize(message: unknown): unknown {
  if (Array.isArray(message)) return message.map((m) => summarize(m));
  if (message !== null && typeof message === 'object') {
    const m = message as Doc;
    return m.request_id ?? m._id ?? '?';
  }
  return message;
}
