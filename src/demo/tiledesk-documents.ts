/**
 * The simulator's world and how it looks as Tiledesk documents (shared/reference/tiledesk-realtime-notes.md
 * §4): the builders turn the mutable state below into the whole documents an ingest event carries.
 */

export type Doc = Record<string, unknown>;

/** One ingest envelope, as POST /v1/events takes it (ingest.md §1). */
export interface IngestEnvelope {
  type: string;
  data: Doc;
  id?: string;
}

export interface Versioned {
  createdAt: string;
  updatedAt: string;
  /** Mongoose's version key: bumped on every update, with a newer updatedAt. */
  version: number;
}

export interface SimProject extends Versioned {
  id: string;
  name: string;
  maxAgentAssignedChat: number;
  ownerUserId: string;
}

export type MemberRole = 'owner' | 'supervisor' | 'agent';

export interface SimMember extends Versioned {
  userId: string;
  projectUserId: string;
  firstname: string;
  lastname: string;
  email: string;
  role: MemberRole;
  /** The member's own chat limit, when it has one (it replaces the project's when larger). */
  maxAssignedChat?: number;
  available: boolean;
  profileStatus: string;
  online: boolean;
  presenceChangedAt: string;
  /** request_id of every open request the member is the assigned agent of. */
  assigned: Set<string>;
}

export interface SimVisitor {
  uuid: string;
  projectUserId: string;
  leadOid: string;
  leadId: string;
  fullname: string;
  email: string;
}

export interface SimDepartment {
  id: string;
  name: string;
}

export interface SimBot extends Versioned {
  id: string;
  name: string;
  trained: boolean;
  secret: string;
}

export interface SimRequest extends Versioned {
  oid: string;
  requestId: string;
  ticketId: number;
  visitor: SimVisitor;
  department: SimDepartment;
  firstText: string;
  status: number;
  agent: SimMember | null;
  /** The bot is the participant (before a handoff to a human). */
  withBot: boolean;
  assignedAt?: string;
  firstResponseAt?: string;
  closedAt?: string;
  closedBy?: string;
  /** The request's recent messages whose status can still move (sent → delivered → seen). */
  unseen: Doc[];
}

export const STATUS = { UNASSIGNED: 100, ABANDONED: 150, ASSIGNED: 200, CLOSED: 1000 } as const;
export const MESSAGE_STATUS = { SENT: 100, DELIVERED: 150, SEEN: 300 } as const;

export function fullName(m: { firstname: string; lastname: string }): string {
  return `${m.firstname} ${m.lastname}`;
}

export function botParticipant(bot: SimBot): string {
  return `bot_${bot.id}`;
}

export function projectDoc(p: SimProject): Doc {
  return {
    _id: p.id,
    name: p.name,
    status: 100,
    activeOperatingHours: false,
    settings: { max_agent_assigned_chat: p.maxAgentAssignedChat, chat_limit_on: true, automatic_unavailable_status_on: false },
    createdBy: p.ownerUserId,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    __v: p.version,
  };
}

/** A project_user with `id_user` populated, as Tiledesk's live project_user updates carry it. */
export function projectUserDoc(m: SimMember, p: SimProject): Doc {
  const doc: Doc = {
    _id: m.projectUserId,
    id_project: p.id,
    id_user: { _id: m.userId, firstname: m.firstname, lastname: m.lastname, email: m.email },
    role: m.role,
    roleType: 1,
    status: 'active',
    user_available: m.available,
    profileStatus: m.profileStatus,
    presence: { status: m.online ? 'online' : 'offline', changedAt: m.presenceChangedAt },
    number_assigned_requests: m.assigned.size,
    permissions: [],
    tags: [],
    trashed: false,
    createdBy: p.ownerUserId,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
    __v: m.version,
  };
  if (m.maxAssignedChat !== undefined) doc.max_assigned_chat = m.maxAssignedChat;
  return doc;
}

export function requestDoc(r: SimRequest, p: SimProject, bot: SimBot): Doc {
  const agentIds = r.agent ? [r.agent.userId] : [];
  const botIds = r.withBot ? [bot.id] : [];
  const lead = {
    _id: r.visitor.leadOid,
    lead_id: r.visitor.leadId,
    fullname: r.visitor.fullname,
    email: r.visitor.email,
    id_project: p.id,
  };
  const doc: Doc = {
    _id: r.oid,
    request_id: r.requestId,
    ticket_id: r.ticketId,
    id_project: p.id,
    status: r.status,
    preflight: false,
    hasBot: r.withBot,
    participants: [...agentIds, ...botIds.map((b) => `bot_${b}`)],
    participantsAgents: agentIds,
    participantsBots: botIds,
    requester: r.visitor.projectUserId,
    lead: r.visitor.leadOid,
    first_text: r.firstText,
    subject: r.firstText.slice(0, 40),
    department: r.department.id,
    priority: 'medium',
    channel: { name: 'chat21' },
    channelOutbound: { name: 'chat21' },
    smartAssignment: true,
    workingStatus: r.status === STATUS.UNASSIGNED ? 'new' : 'open',
    language: 'en',
    tags: [],
    notes: [],
    attributes: {
      userFullname: r.visitor.fullname,
      userEmail: r.visitor.email,
      departmentId: r.department.id,
      departmentName: r.department.name,
      requester_id: r.visitor.uuid,
      sourcePage: 'https://shop.example.test/checkout',
    },
    snapshot: {
      requester: { _id: r.visitor.projectUserId, id_project: p.id, uuid_user: r.visitor.uuid, role: 'guest', roleType: 2 },
      lead,
      department: { _id: r.department.id, name: r.department.name, id_project: p.id, routing: 'assigned' },
      agents: r.agent ? [{ _id: r.agent.projectUserId, id_user: r.agent.userId, role: r.agent.role }] : [],
    },
    createdBy: r.visitor.uuid,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    __v: r.version,
  };
  if (r.assignedAt !== undefined) doc.assigned_at = r.assignedAt;
  if (r.firstResponseAt !== undefined) doc.first_response_at = r.firstResponseAt;
  if (r.closedAt !== undefined) {
    doc.closed_at = r.closedAt;
    doc.closed_by = r.closedBy;
    doc.duration = Date.parse(r.closedAt) - Date.parse(r.createdAt);
  }
  return doc;
}

export interface MessageInput {
  id: string;
  request: SimRequest;
  projectId: string;
  sender: string;
  senderFullname: string;
  text: string;
  at: string;
  attributes?: Doc;
}

export function messageDoc(m: MessageInput): Doc {
  return {
    _id: m.id,
    id_project: m.projectId,
    recipient: m.request.requestId,
    recipientFullname: m.request.visitor.fullname,
    sender: m.sender,
    senderFullname: m.senderFullname,
    type: 'text',
    text: m.text,
    status: MESSAGE_STATUS.SENT,
    channel_type: 'group',
    channel: { name: 'chat21' },
    language: 'en',
    attributes: m.attributes ?? {},
    metadata: {},
    createdBy: m.sender,
    createdAt: m.at,
    updatedAt: m.at,
    __v: 0,
  };
}

export function eventDoc(e: {
  id: string;
  projectId: string;
  name: string;
  projectUserId: string;
  createdBy: string;
  at: string;
  attributes: Doc;
}): Doc {
  return {
    _id: e.id,
    id: e.id,
    id_project: e.projectId,
    name: e.name,
    project_user: e.projectUserId,
    attributes: e.attributes,
    status: 'stardard',
    createdBy: e.createdBy,
    createdAt: e.at,
    updatedAt: e.at,
  };
}

/** A faq_kb document. It carries a `secret` on purpose: the service must drop it (T7 never shows it). */
export function botDoc(b: SimBot, p: SimProject): Doc {
  return {
    _id: b.id,
    id_project: p.id,
    name: b.name,
    description: 'Answers the frequent questions, hands off to a human when asked',
    type: 'tilebot',
    subtype: 'chatbot',
    language: 'en',
    public: false,
    certified: false,
    intentsEngine: 'none',
    webhook_enabled: false,
    trained: b.trained,
    trashed: false,
    secret: b.secret,
    createdBy: p.ownerUserId,
    createdAt: b.createdAt,
    updatedAt: b.updatedAt,
    __v: b.version,
  };
}
