/**
 * What the service sends, as the typed client sees it (protocol.md §2.2 and §4). Documents are typed loosely:
 * the fields the protocol promises, and an index signature for everything else the Tiledesk documents carry
 * (the service passes them through unchanged). Types only: this file is part of the browser path.
 */

export type Method = 'CREATE' | 'UPDATE' | 'DELETE';

/** Codes of `error` frames (protocol.md §2.2); a newer server may send others. */
export type FrameErrorCode =
  | 'bad_request'
  | 'unknown_topic'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'too_many_subscriptions'
  | 'too_many_connections'
  | 'internal';

type Loose = Record<string, unknown>;

/** A request as frames carry it (§4.1): `id` = `_id`, `requester_id`, `snapshot.agents` reduced to `{id_user}`. */
export interface WireRequest extends Loose {
  _id: string;
  id: string;
  request_id: string;
  id_project: string;
  /** 100 unassigned, 200 assigned, 300 served, 1000 closed (the dashboard drops it), 50 temp, 150 abandoned. */
  status: number;
  participants: string[];
  requester_id: string | null;
  snapshot: Loose & { agents: Array<{ id_user: string }> };
  preflight?: boolean;
  draft?: boolean | null;
  first_text?: string;
  createdAt?: string;
  updatedAt?: string;
}

/** What a `DELETE` of a request carries (§4.2, **new**). */
export interface WireRequestStub {
  _id: string;
  id: string;
  request_id: string;
}

/** A message (§4.3); live `CREATE` frames may embed the `request`. */
export interface WireMessage extends Loose {
  _id: string;
  id_project: string;
  /** The request id. */
  recipient: string;
  sender?: string;
  senderFullname?: string;
  type?: string;
  text?: string;
  status?: number;
  attributes?: Loose;
  metadata?: Loose;
  request?: WireRequest;
  createdAt?: string;
  updatedAt?: string;
}

/** A populated reference (`{_id, ...}`) or a plain id. */
export type WireRef = string | (Loose & { _id: string });

/** A project_user with the derived `isBusy` (§4.4). */
export interface WireProjectUser extends Loose {
  _id: string;
  id_project: string;
  id_user?: WireRef;
  uuid_user?: string;
  role: string;
  status: string;
  user_available?: boolean;
  profileStatus?: string;
  number_assigned_requests?: number;
  max_assigned_chat?: number;
  isBusy: boolean;
  updatedAt?: string;
}

export interface WireEvent extends Loose {
  _id: string;
  id_project: string;
  name: string;
  project_user: WireRef;
  attributes?: Loose;
  createdAt?: string;
}

/** A bot, never with its `secret`. */
export interface WireBot extends Loose {
  _id: string;
  id_project: string;
  name?: string;
  updatedAt?: string;
}

/** `{"action":"publish","payload":{topic, method, message}}`; `T` is the message type of the topic's frames. */
export interface PublishFrame<T = unknown> {
  action: 'publish';
  payload: { topic: string; method: Method; message: T };
}

export interface ErrorFrame {
  action: 'error';
  payload: { topic: string | null; code: FrameErrorCode | (string & {}); message: string };
}

export interface HeartbeatFrame {
  action: 'heartbeat';
  payload: { message: { text: 'ping' | 'pong' | (string & {}) } };
}

export interface MeFrame {
  action: 'me';
  payload: { id: string; userId: string };
}

/** The frames of protocol.md §2.2 (a newer server's other actions still reach `frame` listeners, typed as these). */
export type ServerFrame = PublishFrame | ErrorFrame | HeartbeatFrame | MeFrame;
