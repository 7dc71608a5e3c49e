/**
 * The Tiledesk documents as the read model keeps them. Only the fields the service reasons about are
 * typed; every other field is carried through untouched (index signature).
 */

export type Doc = Record<string, unknown>;

/** A populated reference (`{_id, ...}`) or a plain id. */
export type Ref = string | { _id: string; [key: string]: unknown };

export interface RequestDoc extends Doc {
  _id: string;
  id: string;
  request_id: string;
  id_project: string;
  status: number;
  participants: string[];
  requester_id: string | null;
  snapshot: Doc & { agents: Array<{ id_user: string }> };
  preflight?: boolean;
  draft?: boolean | null;
  createdAt?: string;
  updatedAt?: string;
  __v?: number;
}

export interface ProjectUserDoc extends Doc {
  _id: string;
  id_project: string;
  id_user?: Ref;
  uuid_user?: string;
  role: string;
  roleType?: number;
  status: string;
  permissions?: string[];
  rolePermissions?: string[];
  user_available?: boolean;
  number_assigned_requests?: number;
  max_assigned_chat?: number;
  updatedAt?: string;
  __v?: number;
}

/** A project_user as frames show it: the document plus the derived `isBusy`. */
export type WireProjectUser = ProjectUserDoc & { isBusy: boolean };

export interface ProjectDoc extends Doc {
  _id: string;
  status?: number;
  settings?: Doc & { max_agent_assigned_chat?: number };
  updatedAt?: string;
  __v?: number;
}

export interface MessageDoc extends Doc {
  _id: string;
  id_project: string;
  recipient: string;
  createdAt?: string;
  updatedAt?: string;
  __v?: number;
}

export interface EventDoc extends Doc {
  _id: string;
  id_project: string;
  name: string;
  project_user: Ref;
  createdAt?: string;
}

export interface BotDoc extends Doc {
  _id: string;
  id_project: string;
  updatedAt?: string;
  __v?: number;
}

/** The minimal form of a removed request, as DELETE frames carry it. */
export interface RequestStub {
  _id: string;
  id: string;
  request_id: string;
}

export const REQUEST_STATUS = {
  TEMP: 50,
  UNASSIGNED: 100,
  ABANDONED: 150,
  ASSIGNED: 200,
  SERVED: 300,
  CLOSED: 1000,
} as const;

export function refId(ref: Ref | undefined | null): string | undefined {
  if (ref === undefined || ref === null) return undefined;
  return typeof ref === 'string' ? ref : ref._id;
}

/** Open = on the request lists: waiting, assigned or served; not a preflight and not a draft. */
export function isListed(r: RequestDoc): boolean {
  return (
    (r.status === REQUEST_STATUS.UNASSIGNED || r.status === REQUEST_STATUS.ASSIGNED || r.status === REQUEST_STATUS.SERVED) &&
    r.preflight !== true &&
    r.draft !== true
  );
}

export function requestStub(r: Pick<RequestDoc, '_id' | 'request_id'>): RequestStub {
  return { _id: r._id, id: r._id, request_id: r.request_id };
}

export function timeOf(iso: string | undefined): number {
  if (iso === undefined) return Number.NaN;
  return Date.parse(iso);
}
