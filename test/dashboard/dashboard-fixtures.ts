import * as f from '../helpers/factories';
import type { TestApp } from '../helpers/test-app';

/** A small helpdesk for the browser tests: an owner, two agents with names, one agent away. */
export const P = 'dash';
export const AGENTS = {
  ada: { id: 'ada', firstname: 'Ada', lastname: 'Agent' },
  bob: { id: 'bob', firstname: 'Bob', lastname: 'Builder' },
  cid: { id: 'cid', firstname: 'Cid', lastname: 'Away' },
} as const;

export const member = (id: string, role: string, over: Record<string, unknown> = {}) => {
  const named = Object.values(AGENTS).find((a) => a.id === id);
  return f.projectUser(P, id, role, {
    ...(named ? { id_user: { _id: id, firstname: named.firstname, lastname: named.lastname, email: `${id}@example.test` } } : {}),
    ...over,
  });
};

/** A request of P; `lead` names the visitor (its populated lead, as Tiledesk's snapshot carries it). */
export function request(id: string, over: { status: number; lead: string; text: string; agents?: string[]; createdAt?: string }) {
  const agents = over.agents ?? [];
  return f.request(P, id, {
    status: over.status,
    first_text: over.text,
    participants: agents,
    agents,
    snapshot: {
      agents: agents.map((u) => ({ _id: `pu-${P}-${u}`, id_user: u, role: 'agent' })),
      requester: { _id: `pu-guest-${id}`, role: 'guest', uuid_user: `guest-${id}` },
      lead: { _id: `lead-${id}`, fullname: over.lead },
    },
    ...(over.createdAt ? { createdAt: over.createdAt } : {}),
  });
}

export async function seedTeam(app: TestApp): Promise<void> {
  await app.ingestOk([
    { type: 'project.update', data: f.project(P, { name: 'Support', settings: { max_agent_assigned_chat: 2 } }) },
    { type: 'project_user.create', data: member('owner', 'owner') },
    { type: 'project_user.create', data: member('ada', 'agent') },
    { type: 'project_user.create', data: member('bob', 'agent') },
    { type: 'project_user.create', data: member('cid', 'agent', { user_available: false }) },
  ]);
}
