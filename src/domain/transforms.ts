import { Doc, ProjectDoc, ProjectUserDoc, RequestDoc, WireProjectUser, refId } from './documents';

/**
 * The payload transformations of protocol.md §4, applied once when a document is ingested, so that the
 * read model holds documents exactly as frames carry them and no subscribe or delivery transforms again.
 */

/** protocol.md §4.1: `id`, `requester_id`, `snapshot.requester.isAuthenticated`, reduced `snapshot.agents`. */
export function toWireRequest(raw: Doc): RequestDoc {
  const snapshotIn = isObject(raw.snapshot) ? raw.snapshot : {};
  const agentsIn = Array.isArray(snapshotIn.agents) ? (snapshotIn.agents as unknown[]) : [];
  const agents: Array<{ id_user: string }> = [];
  for (const a of agentsIn) {
    const id = isObject(a) ? refId(a.id_user as never) : undefined;
    if (id !== undefined) agents.push({ id_user: id });
  }
  const snapshot: RequestDoc['snapshot'] = { ...snapshotIn, agents };
  if (isObject(snapshotIn.requester)) {
    snapshot.requester = { ...snapshotIn.requester, isAuthenticated: snapshotIn.requester.role !== 'guest' };
  }
  const lead = raw.lead;
  const requesterId = typeof lead === 'string' ? lead : isObject(lead) && typeof lead._id === 'string' ? lead._id : null;
  const _id = raw._id as string;
  return {
    ...raw,
    _id,
    id: _id,
    request_id: raw.request_id as string,
    id_project: raw.id_project as string,
    status: raw.status as number,
    participants: Array.isArray(raw.participants) ? (raw.participants as string[]) : [],
    requester_id: requesterId,
    snapshot,
  };
}

/**
 * protocol.md §4.4: the chat limit is the project's `max_agent_assigned_chat` when > -1, replaced by the
 * member's own `max_assigned_chat` when that is larger (or when the project sets none); no limit: undefined.
 */
export function chatLimit(pu: ProjectUserDoc, project: ProjectDoc | null | undefined): number | undefined {
  const projectMax = project?.settings?.max_agent_assigned_chat;
  let limit = typeof projectMax === 'number' && projectMax > -1 ? projectMax : undefined;
  const own = pu.max_assigned_chat;
  if (typeof own === 'number' && own > -1 && (limit === undefined || own > limit)) limit = own;
  return limit;
}

export function isBusy(pu: ProjectUserDoc, project: ProjectDoc | null | undefined): boolean {
  const limit = chatLimit(pu, project);
  return limit !== undefined && (pu.number_assigned_requests ?? 0) >= limit;
}

export function toWireProjectUser(pu: ProjectUserDoc, project: ProjectDoc | null | undefined): WireProjectUser {
  return { ...pu, isBusy: isBusy(pu, project) };
}

/** The Tiledesk fan-out wraps project_user updates as `{updatedProject_userPopulated, req}`. */
export function unwrapProjectUser(data: Doc): Doc {
  const inner = data.updatedProject_userPopulated;
  return isObject(inner) ? inner : data;
}

/** A bot's `secret` never enters the read model. */
export function withoutSecret(bot: Doc): Doc {
  if (!('secret' in bot)) return bot;
  const copy = { ...bot };
  delete copy.secret;
  return copy;
}

export function isObject(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
