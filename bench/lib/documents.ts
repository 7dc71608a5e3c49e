/**
 * Tiledesk-shaped documents for the benchmark. A request weighs about 700 bytes of JSON, like a real
 * Tiledesk request with its snapshot (lead, requester, department). Measured events
 * carry `bench_id` (> 0, unique per run of a scenario) and `bench_ts` (monotonic ms, stamped just before the
 * event is sent) next to each other inside the document, where the load generator finds them in the text.
 */

export interface Envelope {
  type: string;
  data: Record<string, unknown>;
}

export function projectEnvelope(projectId: string): Envelope {
  return {
    type: 'project.update',
    data: {
      _id: projectId,
      name: `Bench ${projectId}`,
      status: 100,
      settings: { max_agent_assigned_chat: -1 },
      updatedAt: new Date().toISOString(),
    },
  };
}

export function memberEnvelope(projectId: string, userId: string, role: 'owner' | 'agent'): Envelope {
  return {
    type: 'project_user.create',
    data: {
      _id: `pu-${projectId}-${userId}`,
      id_project: projectId,
      id_user: userId,
      role,
      roleType: 1,
      status: 'active',
      user_available: true,
      number_assigned_requests: 0,
      presence: { status: 'online' },
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      __v: 0,
    },
  };
}

export function requestId(projectId: string, index: number): string {
  return `support-group-${projectId}-${index.toString(16).padStart(8, '0')}`;
}

function objectId(index: number): string {
  return `65f0${index.toString(16).padStart(20, '0')}`;
}

export interface RequestShape {
  projectId: string;
  index: number;
  /** Orders versions: a larger value is a newer `updatedAt`. */
  version: number;
  participants?: string[];
  /** User ids of the department's agents (`snapshot.agents`). */
  agents?: string[];
  benchId: number;
  benchTs: number;
}

const BASE_TIME = Date.parse('2026-01-01T00:00:00.000Z');

export function requestDocument(s: RequestShape): Record<string, unknown> {
  const rid = requestId(s.projectId, s.index);
  return {
    _id: objectId(s.index),
    request_id: rid,
    id_project: s.projectId,
    bench_id: s.benchId,
    bench_ts: Number(s.benchTs.toFixed(3)),
    status: 200,
    participants: s.participants ?? [],
    hasBot: false,
    preflight: false,
    priority: 'medium',
    first_text: 'Hello, my order #10442 has not arrived yet',
    department: 'dep-support',
    lead: `lead-${s.index}`,
    requester: `pu-guest-${s.index}`,
    channel: { name: 'chat21' },
    location: { country: 'IT', city: 'Rome' },
    snapshot: {
      agents: (s.agents ?? []).map((id_user) => ({ id_user })),
      requester: { _id: `pu-guest-${s.index}`, role: 'guest', uuid_user: `guest-${s.index}` },
      lead: { _id: `lead-${s.index}`, fullname: 'Maria Rossi', email: 'maria@example.test' },
      department: { _id: 'dep-support', name: 'Support' },
    },
    createdAt: new Date(BASE_TIME).toISOString(),
    updatedAt: new Date(BASE_TIME + s.version).toISOString(),
    __v: 0,
  };
}

export function requestEnvelope(type: 'request.create' | 'request.update', s: RequestShape): Envelope {
  return { type, data: requestDocument(s) };
}
