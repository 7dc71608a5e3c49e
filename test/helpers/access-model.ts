/**
 * An independent model of who must receive which frame, written from protocol.md §3-§4 and ingest.md (and
 * the rules chosen where the spec is silent). It deliberately shares no code with src/: the randomized
 * access test drives the real service and this model with the same events and compares the frames.
 *
 * The model keeps its own read model (projects, project_users, requests, messages, events, bots) and the
 * subscriptions of every connection, and returns for each ingested event and each subscribe the frames a
 * connection must receive, in order per topic.
 */

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
