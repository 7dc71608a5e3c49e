/**
 * Randomized access test: a seeded random sequence of ingested events and subscribes, across two projects
 * and members of every role, drives the real service (real ws clients) and an independent model
 * (helpers/access-model.ts, written from protocol.md §3-§4). After every step every client must have
 * received exactly the frames the model predicts, per topic and in order: nothing more, nothing less.
 *
 * ACCESS_SEED=<n>[,<n>...] replays given seeds; ACCESS_STEPS=<n> changes the number of random steps.
 * Odd seeds run with small history limits (to exercise the T1/T3/T6 limits), even seeds with the defaults.
 */
import {
  AccessModel,
  canonical,
  canSee,
  Delivery,
  Doc,
  ExpectedFrame,
  isMember,
  ModelLimits,
  parseTopic,
  scopeOf,
} from './helpers/access-model';
import { Random } from './helpers/random';
import { startTestApp, TestApp } from './helpers/test-app';
import { waitFor } from './helpers/wait-for';
import { Frame, TestClient } from './helpers/ws-client';

const DEFAULT_SEEDS = [20261125, 42];
const DEFAULT_STEPS = 400;

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

/** Kinds of frames (see Scenario.count) every default run must have produced at least once. */
const COVERED = [
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

interface Conn {
  name: string;
  user: string;
  client: TestClient;
  cursor: number;
  pending: Map<string, ExpectedFrame[]>;
  /** Subscribes sent since the last check, per topic: each is answered by a snapshot or an error. */
  answers: Map<string, number>;
}

type Envelope = { type: string; data: Doc; id?: string };

function seedsToRun(): number[] {
  const raw = process.env.ACCESS_SEED;
  if (!raw) return DEFAULT_SEEDS;
  return raw.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n)) throw new Error(`ACCESS_SEED: not an integer: ${s}`);
    return n;
  });
}

function limitsFor(seed: number): ModelLimits {
  return seed % 2 === 1 ? { requests: 5, messages: 4, events: 3 } : { requests: 100, messages: 300, events: 20 };
}

function stepsToRun(): number {
  const raw = process.env.ACCESS_STEPS;
  return raw ? Number(raw) : DEFAULT_STEPS;
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

/** One seeded run: the generator, the app, the clients and the model. */
class Scenario {
  readonly rng: Random;
  readonly model: AccessModel;
  readonly conns: Conn[] = [];
  private clock: number;
  private counters = { request: 0, message: 0, event: 0, envelope: 0, oid: 0 };
  private appliedEnvelopeIds: string[] = [];
  private readonly trace: string[] = [];
  stats = { events: 0, stale: 0, identical: 0, duplicate: 0, subscribes: 0, frames: 0, errors: 0 };

  constructor(
    readonly seed: number,
    readonly app: TestApp,
    readonly limits: ModelLimits,
  ) {
    this.rng = new Random(seed);
    this.model = new AccessModel(limits);
    // Recent timestamps (retention is relative to the wall clock); whole seconds so that the order is exact.
    this.clock = Math.floor(Date.now() / 1000) * 1000 - 15 * 60 * 1000;
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
    const puIds = [...this.model.project(p).projectUsers.keys()];
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

  /** One random envelope, built from the model's current state. */
  private randomEnvelope(): Envelope {
    const disabled = PROJECTS.filter((x) => !this.model.isProjectEnabled(x));
    if (disabled.length > 0 && this.rng.chance(0.1)) {
      const doc = this.model.project(disabled[0]!).doc!;
      return { type: 'project.update', data: { ...doc, status: 100, updatedAt: this.ts() } };
    }
    const p = this.rng.pick(PROJECTS);
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
        const pus = [...st.projectUsers.values()];
        if (pus.length === 0) return { type: 'event.emit', data: this.eventDoc(p) };
        const next = this.mutateProjectUser(this.rng.pick(pus));
        if (this.rng.chance(0.15))
          return { type: 'project_user_update', data: { updatedProject_userPopulated: next, req: { method: 'PUT' } } };
        return { type: this.rng.chance(0.1) ? 'project_user.create' : 'project_user.update', data: next };
      }
      case 'puCreate': {
        const missing = USERS.filter((u) => !st.projectUsers.has(`pu-${p}-${u}`));
        if (missing.length === 0)
          return { type: 'project_user.update', data: this.mutateProjectUser(this.rng.pick([...st.projectUsers.values()])) };
        const role = this.rng.pick(['owner', 'admin', 'supervisor', 'agent', 'user', 'triage']);
        const spec: Doc = { role };
        if (role === 'triage') spec.rolePermissions = ['request_read_group'];
        if (this.rng.chance(0.2)) spec.status = 'disabled';
        return { type: 'project_user.create', data: this.projectUserDoc(p, this.rng.pick(missing), spec) };
      }
      case 'puDelete': {
        const pus = [...st.projectUsers.values()];
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
        const pus = [...st.projectUsers.values()];
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
        const pus = [...st.projectUsers.values()];
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
      return { ...e, id: `evt-${this.seed}-${this.counters.envelope}` };
    }
    return e;
  }

  // ---- topics ----

  /** Topics a connection of `user` subscribes to in project p: every topic kind, allowed or not. */
  private topicsFor(user: string, p: string): string[] {
    const st = this.model.project(p);
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
    const uuids = [...st.projectUsers.values()].map((pu) => pu.uuid_user as string | undefined).filter((u): u is string => !!u);
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

  private subscribe(conn: Conn, topic: string): void {
    conn.client.send({ action: 'subscribe', payload: { topic } });
    conn.answers.set(topic, (conn.answers.get(topic) ?? 0) + 1);
    const answer = this.model.subscribe(conn.name, topic);
    this.count(answer, 'snapshot');
    this.expect(conn, answer);
    this.stats.subscribes += 1;
  }

  private deliver(deliveries: Delivery[]): void {
    for (const d of deliveries) {
      const conn = this.conns.find((c) => c.name === d.conn)!;
      this.count(d.frame, 'live');
      this.expect(conn, d.frame);
    }
  }

  // ---- driving ----

  private async ingest(envelopes: Envelope[]): Promise<void> {
    await this.app.ingestOk(envelopes.length === 1 ? envelopes[0] : envelopes);
    for (const e of envelopes) {
      const { outcome, deliveries } = this.model.apply(e);
      this.stats.events += 1;
      if (outcome === 'stale') this.stats.stale += 1;
      if (outcome === 'identical') this.stats.identical += 1;
      if (outcome === 'duplicate') this.stats.duplicate += 1;
      if (outcome === 'applied' && e.id !== undefined) this.appliedEnvelopeIds.push(e.id);
      this.deliver(deliveries);
    }
  }

  /** Proves every frame caused so far has arrived, then compares each client's new frames with the model, per topic. */
  async check(step: string): Promise<void> {
    // Subscribes are answered asynchronously (the answer may follow a later pong): wait for each answer first.
    await Promise.all(this.conns.map((c) => this.answered(c)));
    await Promise.all(this.conns.map((c) => c.client.sync()));
    const problems: string[] = [];
    for (const conn of this.conns) {
      if (conn.client.closeInfo) problems.push(`${conn.name} was closed: ${JSON.stringify(conn.client.closeInfo)}`);
      const got = new Map<string, ExpectedFrame[]>();
      for (const f of conn.client.frames.slice(conn.cursor)) {
        if (f.action === 'heartbeat') continue;
        const o = observed(f);
        const key = String(o.topic);
        got.set(key, [...(got.get(key) ?? []), o]);
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
            `${conn.name} (user ${conn.user}) topic ${topic}: expected ${want.length} frame(s), got ${have.length}; first difference at #${i}`,
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
          `access model mismatch: ACCESS_SEED=${this.seed} (limits ${JSON.stringify(this.limits)}) at ${step}`,
          ...problems.slice(0, 8),
          problems.length > 8 ? `... and ${problems.length - 8} more` : '',
          'last steps:',
          ...this.trace.slice(-6),
        ].join('\n'),
      );
    }
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
        what: `${n} answer(s) to ${conn.name}'s subscribe to ${topic}`,
      });
    }
    conn.answers.clear();
  }

  async run(steps: number): Promise<void> {
    await this.populate();
    for (const [name, user] of CONNECTIONS) {
      const client = await this.app.connect(user);
      this.model.connect(name, user);
      this.conns.push({ name, user, client, cursor: 0, pending: new Map(), answers: new Map() });
    }
    for (const conn of this.conns) for (const p of PROJECTS) for (const t of this.topicsFor(conn.user, p)) this.subscribe(conn, t);
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
        this.note(`${label}: ingest ${short(envelopes, 2500)}`);
        await this.ingest(envelopes);
      } else if (action === 'resubscribe') {
        const conn = this.rng.pick(this.conns);
        const held = [...this.model.subscriptions(conn.name).keys()];
        const candidates = [...this.topicsFor(conn.user, this.rng.pick(PROJECTS)), ...held];
        const topics = this.rng.subset(candidates, 0.15).slice(0, 4);
        this.note(`${label}: ${conn.name} subscribes ${JSON.stringify(topics)}`);
        for (const t of topics) this.subscribe(conn, t);
      } else if (action === 'unsubscribe') {
        const conn = this.rng.pick(this.conns);
        const held = [...this.model.subscriptions(conn.name).keys()];
        if (held.length > 0) {
          const topic = this.rng.pick(held);
          this.note(`${label}: ${conn.name} unsubscribes ${topic}`);
          conn.client.send({ action: 'unsubscribe', payload: { topic } });
          this.model.unsubscribe(conn.name, topic);
        }
      } else {
        const chosen = i % 50 === 49 ? this.conns : this.rng.subset(this.conns, 0.3);
        this.note(`${label}: wave of re-subscribes by ${chosen.map((c) => c.name).join(', ')}`);
        for (const conn of chosen) for (const p of PROJECTS) for (const t of this.topicsFor(conn.user, p)) this.subscribe(conn, t);
      }
      await this.check(label);
    }
  }

  private async populate(): Promise<void> {
    const envelopes: Envelope[] = [];
    envelopes.push({ type: 'project.update', data: this.projectDoc('pA', { settings: { max_agent_assigned_chat: 2 } }) });
    envelopes.push({ type: 'project.update', data: this.projectDoc('pB', { settings: {} }) });
    for (const p of PROJECTS) {
      for (const user of USERS) {
        const spec = INITIAL_MEMBERS[p]![user];
        if (spec) envelopes.push({ type: 'project_user.create', data: this.projectUserDoc(p, user, spec) });
      }
      envelopes.push({ type: 'faqbot.update', data: this.botDoc(p, `bot-${p}-1`, undefined) });
    }
    for (const p of PROJECTS) {
      for (let i = 0; i < 8; i += 1) envelopes.push({ type: 'request.create', data: this.requestDoc(p) });
    }
    await this.ingest(envelopes);
    const more: Envelope[] = [];
    for (const p of PROJECTS) {
      const requests = this.liveRequests(p);
      for (let i = 0; i < 12; i += 1) more.push({ type: 'message.create', data: this.messageDoc(p, this.rng.pick(requests).request_id) });
      for (let i = 0; i < 10; i += 1) more.push({ type: 'event.emit', data: this.eventDoc(p) });
    }
    await this.ingest(more);
  }
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

describe('randomized access model', () => {
  const seeds = seedsToRun();
  const steps = stepsToRun();

  it.each(seeds)(
    'seed %i: every client receives exactly the frames the model predicts',
    async (seed) => {
      const limits = limitsFor(seed);
      const app = await startTestApp({
        WS_HISTORY_REQUESTS_LIMIT: String(limits.requests),
        WS_HISTORY_MESSAGES_LIMIT: String(limits.messages),
        WS_HISTORY_EVENTS_LIMIT: String(limits.events),
      });
      const scenario = new Scenario(seed, app, limits);
      try {
        await scenario.run(steps);
      } finally {
        await app.close();
        if (process.env.ACCESS_VERBOSE) {
          const lines = [...scenario.coverage].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `  ${k}: ${n}`);
          console.log(`seed ${seed} ${JSON.stringify(scenario.stats)}\n${lines.join('\n')}`);
        }
      }
      // The run must have exercised the interesting paths, or it proves little.
      if (!process.env.ACCESS_SEED && !process.env.ACCESS_STEPS) {
        const missing = COVERED.filter((k) => !scenario.coverage.get(k));
        expect(missing).toEqual([]);
      }
      expect(scenario.stats.stale).toBeGreaterThan(0);
      expect(scenario.stats.identical).toBeGreaterThan(0);
      expect(scenario.stats.errors).toBeGreaterThan(0);
      expect(scenario.stats.frames).toBeGreaterThan(steps);
    },
    60_000,
  );
});
