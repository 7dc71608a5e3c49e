import { isBotParticipant, REQUEST_STATUS, RequestDoc, RequestRef } from './documents';

/**
 * The live request list of T1 (`/P/requests`, protocol.md §4.2) kept from its frames, and the order the page
 * shows it in: the waiting requests first (longest wait first), then the others grouped by agent.
 */

/** Open requests by key (`request_id`, else `_id`). Never mutated: every frame gives a new map. */
export type RequestMap = ReadonlyMap<string, RequestDoc>;

export function requestKey(r: RequestRef): string | undefined {
  return r.request_id ?? r._id ?? r.id;
}

/**
 * One T1 frame applied to the list: a `CREATE` with an array is the snapshot (after a subscribe or a reconnect:
 * it replaces the list), a `CREATE`/`UPDATE` of one request upserts it, or removes it when it is closed (status
 * 1000); a `DELETE` removes it (the member lost sight of it).
 */
export function applyRequestFrame(list: RequestMap, method: string, message: unknown): RequestMap {
  if (Array.isArray(message)) {
    if (method !== 'CREATE') return list;
    const next = new Map<string, RequestDoc>();
    for (const r of message as RequestDoc[]) {
      const key = requestKey(r);
      if (key !== undefined && r.status !== REQUEST_STATUS.CLOSED) next.set(key, r);
    }
    return next;
  }
  if (typeof message !== 'object' || message === null) return list;
  const ref = message as RequestRef;
  const key = requestKey(ref);
  if (key === undefined) return list;
  if (method === 'DELETE' || (message as RequestDoc).status === REQUEST_STATUS.CLOSED) return without(list, ref);
  if (method !== 'CREATE' && method !== 'UPDATE') return list;
  const next = new Map(list);
  next.set(key, message as RequestDoc);
  return next;
}

/** The list less the request `ref` names, matched on any of its ids (a DELETE carries all three). */
function without(list: RequestMap, ref: RequestRef): RequestMap {
  const ids = new Set([ref._id, ref.id, ref.request_id].filter((v): v is string => typeof v === 'string'));
  let found = false;
  const next = new Map<string, RequestDoc>();
  for (const [k, r] of list) {
    if (ids.has(k) || ids.has(r._id) || (r.request_id !== undefined && ids.has(r.request_id))) found = true;
    else next.set(k, r);
  }
  return found ? next : list;
}

/** The lead's name as Tiledesk documents carry it, in the order of preference; else the requester's id. */
export function leadName(r: RequestDoc): string {
  const lead = r.lead;
  const candidates = [
    typeof lead === 'object' && lead !== null ? lead.fullname : undefined,
    r.snapshot?.lead?.fullname,
    r.attributes?.userFullname,
  ];
  for (const c of candidates) if (typeof c === 'string' && c.trim() !== '') return c.trim();
  return r.requester_id ?? (typeof lead === 'string' ? lead : undefined) ?? 'unknown visitor';
}

/** The human agents of a request: `snapshot.agents[].id_user`, then its participants that are not bots. */
export function agentsOf(r: RequestDoc): string[] {
  const ids = new Set<string>();
  for (const a of r.snapshot?.agents ?? []) if (typeof a?.id_user === 'string') ids.add(a.id_user);
  for (const p of r.participants ?? []) if (typeof p === 'string' && !isBotParticipant(p)) ids.add(p);
  return [...ids];
}

export interface RequestRow {
  key: string;
  lead: string;
  firstText: string;
  status: number;
  /** Seconds since the request was created (its wait, for a waiting one), at `now`; null without createdAt. */
  ageS: number | null;
}

export interface AgentGroup {
  /** A user id; `bot` for requests only a bot takes part in, `nobody` for none. */
  agentId: string;
  rows: RequestRow[];
}

export interface OrderedRequests {
  waiting: RequestRow[];
  byAgent: AgentGroup[];
}

export const BOT_GROUP = 'bot';
export const NOBODY_GROUP = 'nobody';

/**
 * The list as the page shows it at `nowMs` (the server's clock, see server-clock.ts): waiting requests (status
 * 100) first, longest wait first; then the others grouped under their first agent, groups in the order of
 * `agentName`, each group oldest first. A request with two agents is listed under the first.
 */
export function orderRequests(list: RequestMap, nowMs: number, agentName: (userId: string) => string): OrderedRequests {
  const waiting: Array<{ row: RequestRow; created: number }> = [];
  const groups = new Map<string, Array<{ row: RequestRow; created: number }>>();
  for (const [key, r] of list) {
    const created = r.createdAt !== undefined ? Date.parse(r.createdAt) : NaN;
    const row: RequestRow = {
      key,
      lead: leadName(r),
      firstText: r.first_text ?? '',
      status: r.status,
      ageS: Number.isFinite(created) ? Math.max(0, (nowMs - created) / 1000) : null,
    };
    const entry = { row, created: Number.isFinite(created) ? created : Number.MAX_SAFE_INTEGER };
    if (r.status === REQUEST_STATUS.WAITING) {
      waiting.push(entry);
      continue;
    }
    const agent = agentsOf(r)[0] ?? ((r.participants ?? []).some(isBotParticipant) ? BOT_GROUP : NOBODY_GROUP);
    const group = groups.get(agent) ?? [];
    group.push(entry);
    groups.set(agent, group);
  }
  const byAge = (a: { row: RequestRow; created: number }, b: { row: RequestRow; created: number }) =>
    a.created - b.created || a.row.key.localeCompare(b.row.key);
  const rank = (id: string) => (id === BOT_GROUP ? 1 : id === NOBODY_GROUP ? 2 : 0);
  return {
    waiting: waiting.sort(byAge).map((e) => e.row),
    byAgent: [...groups.entries()]
      .sort(([a], [b]) => rank(a) - rank(b) || agentName(a).localeCompare(agentName(b)) || a.localeCompare(b))
      .map(([agentId, rows]) => ({ agentId, rows: rows.sort(byAge).map((e) => e.row) })),
  };
}
