/**
 * The parts of the Tiledesk documents (protocol.md §4) the dashboard reads. Frames carry whole documents; these
 * types name only the fields the page uses, all optional where a Tiledesk document may lack them.
 */

/** A request as T1 (`/P/requests`) sends it. */
export interface RequestDoc {
  _id: string;
  id?: string;
  request_id?: string;
  /** 100 unassigned (waiting), 200 assigned, 300 served, 1000 closed. */
  status: number;
  participants?: string[];
  first_text?: string;
  createdAt?: string;
  updatedAt?: string;
  /** The lead's id, or the populated lead. */
  lead?: string | { _id?: string; fullname?: string } | null;
  requester_id?: string | null;
  snapshot?: {
    agents?: Array<{ id_user: string }>;
    lead?: { _id?: string; fullname?: string } | null;
  };
  attributes?: { userFullname?: string } | null;
}

/** The `{_id, id, request_id}` a T1 `DELETE` carries. */
export interface RequestRef {
  _id?: string;
  id?: string;
  request_id?: string;
}

/** A project_user as T4/T5 send it: as ingested, `id_user` a user id or the populated user, plus `isBusy`. */
export interface ProjectUserDoc {
  _id: string;
  id_user: string | { _id: string; firstname?: string; lastname?: string; email?: string };
  uuid_user?: string;
  role?: string;
  user_available?: boolean;
  isBusy?: boolean;
  number_assigned_requests?: number;
  max_assigned_chat?: number;
  presence?: { status?: string } | null;
  profileStatus?: string;
}

export const REQUEST_STATUS = { WAITING: 100, ASSIGNED: 200, SERVED: 300, CLOSED: 1000 } as const;

/** Tiledesk names a bot participant `bot_<id>`. */
export function isBotParticipant(id: string): boolean {
  return id.startsWith('bot_');
}
