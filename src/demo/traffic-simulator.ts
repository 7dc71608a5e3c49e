import { chatLimit } from '../domain/transforms';
import { MonotonicClock } from './demo-clock';
import {
  AGENT_LINES,
  AGENT_NAMES,
  BOT_LINES,
  DEPARTMENTS,
  FIRST_TEXTS,
  HANDOFF_LINE,
  OWNER_NAME,
  RATING_MESSAGES,
  SUPERVISOR_NAME,
  VISITOR_FIRST_NAMES,
  VISITOR_LAST_NAMES,
  VISITOR_LINES,
} from './demo-script';
import { SeededRandom } from './seeded-random';
import {
  Doc,
  IngestEnvelope,
  MESSAGE_STATUS,
  MemberRole,
  STATUS,
  SimBot,
  SimDepartment,
  SimMember,
  SimProject,
  SimRequest,
  SimVisitor,
  Versioned,
  botDoc,
  botParticipant,
  eventDoc,
  fullName,
  messageDoc,
  projectDoc,
  projectUserDoc,
  requestDoc,
} from './tiledesk-documents';

export interface TrafficSimulatorOptions {
  /** Same seed, same story (ids, arrivals, conversations); random when absent. */
  seed?: string;
  /** Wall clock for document timestamps (tests pass a fake one). */
  now?: () => number;
  /** Number of agents besides the owner and the supervisor (default 8). */
  agents?: number;
  /** Visitors stop arriving while this many requests are open (default 24). */
  maxOpenRequests?: number;
}

export interface SimulatorSummary {
  open: number;
  waiting: number;
  withBot: number;
  withAgent: number;
  agentsAvailable: number;
  agentsTotal: number;
  closed: number;
}

type Action =
  | 'arrive'
  | 'assign'
  | 'handoff'
  | 'visitorMessage'
  | 'agentMessage'
  | 'botMessage'
  | 'seen'
  | 'typing'
  | 'availability'
  | 'transfer'
  | 'close'
  | 'botClose'
  | 'abandon'
  | 'botUpdate';

/** Share of new conversations the bot answers first (then hands off to a human, or solves alone). */
const BOT_SHARE = 0.35;
/** Conversations already going when the demo starts, so a first snapshot is not empty. */
const WARM_UP_REQUESTS = 6;
/** Arrival bursts: BURST_STEPS steps of rush every BURST_CYCLE steps. */
const BURST_CYCLE = 600;
const BURST_STEPS = 160;
/** Messages per request whose delivery status the simulator keeps moving. */
const UNSEEN_KEPT = 6;

/**
 * A small Tiledesk project living its day: visitors open conversations, the bot or an agent with free
 * capacity takes them, messages flow both ways and get seen, agents go away and come back, requests
 * close and free capacity. Every call to step() advances the story by one action and returns the ingest
 * envelopes that tell the service about it (whole documents, each update newer than the last).
 * Invariant kept throughout: an agent's number_assigned_requests is the number of open requests it holds,
 * and never over its chat limit.
 */
export class TrafficSimulator {
  readonly seed: string;
  readonly project: SimProject;
  readonly owner: SimMember;
  readonly supervisor: SimMember;
  readonly agents: SimMember[];
  readonly bot: SimBot;

  private readonly rng: SeededRandom;
  private readonly clock: MonotonicClock;
  private readonly departments: SimDepartment[];
  private readonly maxOpen: number;
  /** Open requests (waiting, with the bot, or with an agent) by request_id, in arrival order. */
  private readonly open = new Map<string, SimRequest>();
  private ticketSeq = 0;
  private closedCount = 0;
  /** Steps taken, for the arrival bursts (see inBurst). */
  private steps = 0;

  constructor(opts: TrafficSimulatorOptions = {}) {
    this.rng = new SeededRandom(opts.seed);
    this.seed = this.rng.seed;
    this.clock = new MonotonicClock(opts.now);
    this.maxOpen = opts.maxOpenRequests ?? 24;
    const ownerUserId = this.rng.objectId();
    this.project = {
      id: this.rng.objectId(),
      name: 'Acme Support',
      maxAgentAssignedChat: 3,
      ownerUserId,
      ...this.born(),
    };
    this.owner = this.member('owner', OWNER_NAME, ownerUserId);
    this.supervisor = this.member('supervisor', SUPERVISOR_NAME);
    const count = opts.agents ?? 8;
    this.agents = [];
    for (let i = 0; i < count; i++) {
      const [first, last] = AGENT_NAMES[i % AGENT_NAMES.length]!;
      const agent = this.member('agent', [first, i < AGENT_NAMES.length ? last : `${last} ${i}`]);
      // Two seniors with a personal limit above the project's; one agent starts the day away.
      if (i === 2 || i === 5) agent.maxAssignedChat = 5;
      if (i === count - 1 && count > 1) {
        agent.available = false;
        agent.profileStatus = 'away';
      }
      this.agents.push(agent);
    }
    this.departments = DEPARTMENTS.map((d) => ({ id: this.rng.objectId(), name: d.name }));
    this.bot = { id: this.rng.objectId(), name: 'Acme Assistant', trained: true, secret: this.rng.uuid(), ...this.born() };
  }

  /** The project, its members and bot, and a few conversations already going. */
  setup(): IngestEnvelope[] {
    const out: IngestEnvelope[] = [{ type: 'project.update', data: projectDoc(this.project) }];
    for (const m of [this.owner, this.supervisor, ...this.agents]) {
      out.push({ type: 'project_user.create', data: projectUserDoc(m, this.project) });
    }
    out.push({ type: 'faqbot.update', data: botDoc(this.bot, this.project) });
    for (let i = 0; i < WARM_UP_REQUESTS; i++) out.push(...this.arrive());
    while (this.waiting().length > 0 && this.freeAgents().length > 0) out.push(...this.assign());
    return out;
  }

  /** Advances the story by one action; never returns an empty list. */
  step(): IngestEnvelope[] {
    this.steps++;
    for (;;) {
      const action = this.rng.weighted(this.weights());
      // availability always has weight, so an action is always found
      const out = this.run(action ?? 'availability');
      if (out.length > 0) return out;
    }
  }

  summary(): SimulatorSummary {
    const open = [...this.open.values()];
    return {
      open: open.length,
      waiting: open.filter((r) => r.status === STATUS.UNASSIGNED).length,
      withBot: open.filter((r) => r.withBot).length,
      withAgent: open.filter((r) => r.agent !== null).length,
      agentsAvailable: this.agents.filter((a) => a.available).length,
      agentsTotal: this.agents.length,
      closed: this.closedCount,
    };
  }

  /** The chat limit the service applies to this member (protocol.md §4.4); Infinity when none. */
  capacityOf(m: SimMember): number {
    const limit = chatLimit(
      { _id: m.projectUserId, id_project: this.project.id, role: m.role, status: 'active', max_assigned_chat: m.maxAssignedChat },
      { _id: this.project.id, settings: { max_agent_assigned_chat: this.project.maxAgentAssignedChat } },
    );
    return limit ?? Number.POSITIVE_INFINITY;
  }

  // ---- choosing what happens next -------------------------------------------------------------------

  private weights(): Record<Action, number> {
    const open = [...this.open.values()];
    const waiting = open.filter((r) => r.status === STATUS.UNASSIGNED).length;
    const withAgent = open.filter((r) => r.agent !== null).length;
    const withBot = open.filter((r) => r.withBot).length;
    const free = this.freeAgents().length;
    // A burst lets twice as many requests in, four times as fast: the queue, the waits and the forecast move.
    const burst = this.inBurst();
    const maxOpen = burst ? this.maxOpen * 2 : this.maxOpen;
    return {
      arrive: open.length >= maxOpen ? 0 : burst ? 6 : open.length < 4 ? 3 : 1.2,
      assign: waiting > 0 && free > 0 ? 3 : 0,
      handoff: withBot > 0 ? 0.8 : 0,
      visitorMessage: withAgent + withBot > 0 ? 2.5 : 0,
      agentMessage: withAgent > 0 ? 2.5 : 0,
      botMessage: withBot > 0 ? 1 : 0,
      seen: open.some((r) => r.unseen.length > 0) ? 1.5 : 0,
      typing: withAgent > 0 ? 1 : 0,
      availability: 0.5,
      transfer: withAgent > 0 && free > 0 ? 0.25 : 0,
      close: withAgent > 0 ? 0.1 + 0.07 * withAgent : 0,
      botClose: withBot > 0 ? 0.2 : 0,
      abandon: waiting > 3 ? 0.3 : 0,
      botUpdate: 0.08,
    };
  }

  private run(action: Action): IngestEnvelope[] {
    switch (action) {
      case 'arrive':
        return this.arrive();
      case 'assign':
        return this.assign();
      case 'handoff':
        return this.handoff();
      case 'visitorMessage':
        return this.visitorMessage();
      case 'agentMessage':
        return this.agentMessage();
      case 'botMessage':
        return this.botMessage();
      case 'seen':
        return this.seen();
      case 'typing':
        return this.typing();
      case 'availability':
        return this.availability();
      case 'transfer':
        return this.transfer();
      case 'close':
        return this.close();
      case 'botClose':
        return this.botClose();
      case 'abandon':
        return this.abandon();
      case 'botUpdate':
        return this.botUpdate();
    }
  }

  /**
   * Whether the story is in an arrival burst: the last BURST_STEPS of every BURST_CYCLE steps (at the demo's
   * default pace of 4 events/s, 40 s of rush every two and a half minutes, the first after about two).
   */
  inBurst(): boolean {
    return this.steps % BURST_CYCLE >= BURST_CYCLE - BURST_STEPS;
  }

  // ---- actions --------------------------------------------------------------------------------------

  private arrive(): IngestEnvelope[] {
    const firstname = this.rng.pick(VISITOR_FIRST_NAMES);
    const lastname = this.rng.pick(VISITOR_LAST_NAMES);
    const visitor: SimVisitor = {
      uuid: this.rng.uuid(),
      projectUserId: this.rng.objectId(),
      leadOid: this.rng.objectId(),
      leadId: '',
      fullname: `${firstname} ${lastname}`,
      email: `${firstname}.${lastname}@mail.example.test`.toLowerCase(),
    };
    visitor.leadId = visitor.uuid;
    const withBot = this.rng.chance(BOT_SHARE);
    const r: SimRequest = {
      oid: this.rng.objectId(),
      requestId: `support-group-${this.project.id}-${this.rng.hex(32)}`,
      ticketId: ++this.ticketSeq,
      visitor,
      department: this.pickDepartment(),
      firstText: this.rng.pick(FIRST_TEXTS),
      status: withBot ? STATUS.ASSIGNED : STATUS.UNASSIGNED,
      agent: null,
      withBot,
      unseen: [],
      ...this.born(),
    };
    this.open.set(r.requestId, r);
    return [this.requestEnvelope('request.create', r), this.message(r, visitor.uuid, visitor.fullname, r.firstText)];
  }

  private assign(): IngestEnvelope[] {
    const r = this.waiting()[0];
    const free = this.freeAgents();
    if (!r || free.length === 0) return [];
    const least = Math.min(...free.map((a) => a.assigned.size));
    const agent = this.rng.pick(free.filter((a) => a.assigned.size === least));
    r.agent = agent;
    r.status = STATUS.ASSIGNED;
    this.touch(r);
    r.assignedAt = r.updatedAt;
    agent.assigned.add(r.requestId);
    this.touch(agent);
    return [
      this.requestEnvelope('request.update', r),
      this.memberEnvelope(agent),
      this.message(r, 'system', 'System', `${fullName(agent)} joined the conversation`, {
        subtype: 'info',
        messagelabel: { key: 'MEMBER_JOINED_GROUP', parameters: { member_id: agent.userId, fullname: fullName(agent) } },
      }),
    ];
  }

  private handoff(): IngestEnvelope[] {
    const r = this.pickOpen((x) => x.withBot);
    if (!r) return [];
    const said = this.message(r, botParticipant(this.bot), this.bot.name, HANDOFF_LINE);
    r.withBot = false;
    r.status = STATUS.UNASSIGNED;
    this.touch(r);
    return [said, this.requestEnvelope('request.update', r)];
  }

  private visitorMessage(): IngestEnvelope[] {
    const r = this.pickOpen((x) => x.agent !== null || x.withBot);
    if (!r) return [];
    return [this.message(r, r.visitor.uuid, r.visitor.fullname, this.rng.pick(VISITOR_LINES))];
  }

  private agentMessage(): IngestEnvelope[] {
    const r = this.pickOpen((x) => x.agent !== null);
    const agent = r?.agent;
    if (!r || !agent) return [];
    const out = [this.message(r, agent.userId, fullName(agent), this.rng.pick(AGENT_LINES))];
    if (r.firstResponseAt === undefined) {
      this.touch(r);
      r.firstResponseAt = r.updatedAt;
      out.push(this.requestEnvelope('request.update', r));
    }
    return out;
  }

  private botMessage(): IngestEnvelope[] {
    const r = this.pickOpen((x) => x.withBot);
    if (!r) return [];
    return [this.message(r, botParticipant(this.bot), this.bot.name, this.rng.pick(BOT_LINES))];
  }

  /** A message moves on: sent → delivered → seen (message.update with the whole document). */
  private seen(): IngestEnvelope[] {
    const r = this.pickOpen((x) => x.unseen.length > 0);
    const current = r?.unseen[0];
    if (!r || !current) return [];
    const status = current.status === MESSAGE_STATUS.SENT && this.rng.chance(0.5) ? MESSAGE_STATUS.DELIVERED : MESSAGE_STATUS.SEEN;
    const next: Doc = { ...current, status, updatedAt: this.clock.next(), __v: (current.__v as number) + 1 };
    if (status === MESSAGE_STATUS.SEEN) r.unseen.shift();
    else r.unseen[0] = next;
    return [{ type: 'message.update', data: next }];
  }

  private typing(): IngestEnvelope[] {
    const r = this.pickOpen((x) => x.agent !== null);
    const agent = r?.agent;
    if (!r || !agent) return [];
    const byVisitor = this.rng.chance(0.5);
    return [
      this.event('typing', byVisitor ? r.visitor.projectUserId : agent.projectUserId, byVisitor ? r.visitor.uuid : agent.userId, {
        request_id: r.requestId,
        typing: true,
        fullname: byVisitor ? r.visitor.fullname : fullName(agent),
      }),
    ];
  }

  /** An agent steps away (busy, away, sometimes offline) or comes back. */
  private availability(): IngestEnvelope[] {
    const away = this.agents.filter((a) => !a.available);
    const present = this.agents.filter((a) => a.available);
    const comeBack = away.length > 0 && (present.length <= this.agents.length / 2 || this.rng.chance(0.5));
    const at = this.clock.next();
    let agent: SimMember;
    if (comeBack) {
      agent = this.rng.pick(away);
      agent.available = true;
      agent.profileStatus = '';
      if (!agent.online) {
        agent.online = true;
        agent.presenceChangedAt = at;
      }
    } else {
      if (present.length === 0) return [];
      agent = this.rng.pick(present);
      agent.available = false;
      agent.profileStatus = this.rng.pick(['busy', 'away']);
      if (this.rng.chance(0.3)) {
        agent.online = false;
        agent.presenceChangedAt = at;
      }
    }
    this.touch(agent);
    return [this.memberEnvelope(agent)];
  }

  /** Reassigned to another agent: the first one loses sight of it (T1 UPDATE then DELETE for them). */
  private transfer(): IngestEnvelope[] {
    const r = this.pickOpen((x) => x.agent !== null);
    const from = r?.agent;
    if (!r || !from) return [];
    const candidates = this.freeAgents().filter((a) => a !== from);
    if (candidates.length === 0) return [];
    const to = this.rng.pick(candidates);
    from.assigned.delete(r.requestId);
    to.assigned.add(r.requestId);
    r.agent = to;
    this.touch(r);
    this.touch(from);
    this.touch(to);
    return [
      this.requestEnvelope('request.update', r),
      this.memberEnvelope(from),
      this.memberEnvelope(to),
      this.message(r, 'system', 'System', `${fullName(from)} transferred the conversation to ${fullName(to)}`, {
        subtype: 'info',
        messagelabel: { key: 'TRANSFERRED', parameters: { from: from.userId, to: to.userId } },
      }),
    ];
  }

  private close(): IngestEnvelope[] {
    const r = this.pickOpen((x) => x.agent !== null);
    const agent = r?.agent;
    if (!r || !agent) return [];
    const closedBy = this.rng.chance(0.7) ? agent.userId : r.visitor.uuid;
    this.closeRequest(r, STATUS.CLOSED, closedBy);
    agent.assigned.delete(r.requestId);
    this.touch(agent);
    const out = [this.requestEnvelope('request.update', r), this.memberEnvelope(agent)];
    if (this.rng.chance(0.6)) {
      out.push(
        this.event('rating', r.visitor.projectUserId, r.visitor.uuid, {
          request_id: r.requestId,
          rating: this.rng.int(1, 5),
          rating_message: this.rng.pick(RATING_MESSAGES),
        }),
      );
    }
    return out;
  }

  private botClose(): IngestEnvelope[] {
    const r = this.pickOpen((x) => x.withBot);
    if (!r) return [];
    this.closeRequest(r, STATUS.CLOSED, botParticipant(this.bot));
    return [this.requestEnvelope('request.update', r)];
  }

  /** The visitor gave up waiting for an agent. */
  private abandon(): IngestEnvelope[] {
    const waiting = this.waiting();
    const r = waiting[waiting.length - 1];
    if (!r) return [];
    this.closeRequest(r, STATUS.ABANDONED, undefined);
    return [this.requestEnvelope('request.update', r)];
  }

  private botUpdate(): IngestEnvelope[] {
    this.bot.trained = !this.bot.trained;
    this.touch(this.bot);
    return [{ type: 'faqbot.update', data: botDoc(this.bot, this.project) }];
  }

  // ---- helpers --------------------------------------------------------------------------------------

  private closeRequest(r: SimRequest, status: number, closedBy: string | undefined): void {
    r.status = status;
    this.touch(r);
    if (closedBy !== undefined) {
      r.closedAt = r.updatedAt;
      r.closedBy = closedBy;
    }
    r.unseen = [];
    this.open.delete(r.requestId);
    this.closedCount++;
  }

  private waiting(): SimRequest[] {
    return [...this.open.values()].filter((r) => r.status === STATUS.UNASSIGNED);
  }

  private freeAgents(): SimMember[] {
    return this.agents.filter((a) => a.available && a.online && a.assigned.size < this.capacityOf(a));
  }

  private pickOpen(pred: (r: SimRequest) => boolean): SimRequest | undefined {
    const matching = [...this.open.values()].filter(pred);
    return matching.length > 0 ? this.rng.pick(matching) : undefined;
  }

  private pickDepartment(): SimDepartment {
    let r = this.rng.next();
    for (let i = 0; i < DEPARTMENTS.length; i++) {
      r -= DEPARTMENTS[i]!.share;
      if (r < 0) return this.departments[i]!;
    }
    return this.departments[this.departments.length - 1]!;
  }

  private member(role: MemberRole, name: readonly [string, string], userId = this.rng.objectId()): SimMember {
    const [firstname, lastname] = name;
    const born = this.born();
    return {
      userId,
      projectUserId: this.rng.objectId(),
      firstname,
      lastname,
      email: `${firstname}.${lastname}@acme.example.test`.toLowerCase().replace(/\s+/g, '-'),
      role,
      available: true,
      profileStatus: '',
      online: true,
      presenceChangedAt: born.createdAt,
      assigned: new Set(),
      ...born,
    };
  }

  private born(): Versioned {
    const at = this.clock.next();
    return { createdAt: at, updatedAt: at, version: 0 };
  }

  /** Every update carries a strictly newer updatedAt and a bumped __v, or the service drops it as stale. */
  private touch(v: Versioned): void {
    v.updatedAt = this.clock.next();
    v.version += 1;
  }

  private message(r: SimRequest, sender: string, senderFullname: string, text: string, attributes?: Doc): IngestEnvelope {
    const data = messageDoc({
      id: this.rng.objectId(),
      request: r,
      projectId: this.project.id,
      sender,
      senderFullname,
      text,
      at: this.clock.next(),
      attributes,
    });
    if (sender !== 'system') {
      r.unseen.push(data);
      if (r.unseen.length > UNSEEN_KEPT) r.unseen.shift();
    }
    return { type: 'message.create', data };
  }

  private event(name: string, projectUserId: string, createdBy: string, attributes: Doc): IngestEnvelope {
    const data = eventDoc({
      id: this.rng.objectId(),
      projectId: this.project.id,
      name,
      projectUserId,
      createdBy,
      at: this.clock.next(),
      attributes,
    });
    return { type: 'event.emit', data };
  }

  private requestEnvelope(type: 'request.create' | 'request.update', r: SimRequest): IngestEnvelope {
    return { type, data: requestDoc(r, this.project, this.bot) };
  }

  private memberEnvelope(m: SimMember): IngestEnvelope {
    return { type: 'project_user.update', data: projectUserDoc(m, this.project) };
  }
}
