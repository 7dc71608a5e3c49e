/**
 * Tiledesk-shaped documents for tests (see shared/reference/tiledesk-realtime-notes.md §4). Each factory
 * takes overrides; timestamps come from a counter so that later documents are newer.
 */
// Starts a little in the past so that TTL-bound documents (events) are fresh; each call is 1 s later.
let clock = Date.now() - 10 * 60_000;
let counter = 0;

export function nextTime(): string {
  clock += 1000;
  return new Date(clock).toISOString();
}

export function oid(): string {
  counter += 1;
  return (Date.now().toString(16) + counter.toString(16).padStart(12, '0')).slice(-24).padStart(24, '0');
}

export function project(id: string, overrides: Record<string, unknown> = {}) {
  return { _id: id, name: `Project ${id}`, status: 100, settings: { max_agent_assigned_chat: 3 }, updatedAt: nextTime(), ...overrides };
}

export function projectUser(projectId: string, userId: string, role: string, overrides: Record<string, unknown> = {}) {
  return {
    _id: `pu-${projectId}-${userId}`,
    id_project: projectId,
    id_user: userId,
    role,
    roleType: role === 'user' || role === 'guest' ? 2 : 1,
    status: 'active',
    user_available: true,
    number_assigned_requests: 0,
    presence: { status: 'online', changedAt: nextTime() },
    createdAt: nextTime(),
    updatedAt: nextTime(),
    __v: 0,
    ...overrides,
  };
}

export function request(projectId: string, requestId: string, overrides: Record<string, unknown> = {}) {
  const agents = (overrides.agents as string[] | undefined) ?? [];
  const rest = { ...overrides };
  delete rest.agents;
  return {
    _id: `oid-${requestId}`,
    request_id: requestId,
    id_project: projectId,
    status: 200,
    participants: [],
    preflight: false,
    first_text: 'Hello, I need help',
    lead: `lead-${requestId}`,
    snapshot: {
      agents: agents.map((u) => ({ _id: `pu-${projectId}-${u}`, id_user: u, role: 'agent' })),
      requester: { _id: `pu-guest-${requestId}`, role: 'guest', uuid_user: `guest-${requestId}` },
      lead: { _id: `lead-${requestId}`, fullname: 'Visitor', email: 'visitor@example.test' },
      department: { _id: 'dep-1', name: 'Default' },
    },
    channel: { name: 'chat21' },
    createdAt: nextTime(),
    updatedAt: nextTime(),
    __v: 0,
    ...rest,
  };
}

export function message(projectId: string, requestId: string, overrides: Record<string, unknown> = {}) {
  return {
    _id: oid(),
    id_project: projectId,
    recipient: requestId,
    sender: 'guest-1',
    senderFullname: 'Visitor',
    type: 'text',
    text: 'a message',
    status: 200,
    channel_type: 'group',
    createdAt: nextTime(),
    updatedAt: nextTime(),
    __v: 0,
    ...overrides,
  };
}

export function event(projectId: string, projectUserId: string, name: string, overrides: Record<string, unknown> = {}) {
  return {
    _id: oid(),
    id_project: projectId,
    name,
    project_user: projectUserId,
    attributes: {},
    status: 'stardard',
    createdAt: nextTime(),
    ...overrides,
  };
}

export function bot(projectId: string, botId: string, overrides: Record<string, unknown> = {}) {
  return { _id: botId, id_project: projectId, name: `Bot ${botId}`, type: 'internal', trained: false, updatedAt: nextTime(), ...overrides };
}
