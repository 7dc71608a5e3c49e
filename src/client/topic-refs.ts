import type { ProjectMetrics } from '../analytics/metrics-shape';
import type { WireBot, WireEvent, WireMessage, WireProjectUser, WireRequest, WireRequestStub } from './wire-types';

declare const messageType: unique symbol;

/**
 * A topic string branded with the type `T` of the `message` its `publish` frames carry, so that
 * `client.subscribe(topic.requests(p), { onFrame })` types `onFrame`'s frame. The brand exists only for the
 * compiler: at run time a TopicRef is `{ topic }`.
 */
export interface TopicRef<T> {
  readonly topic: string;
  readonly [messageType]?: T;
}

/** The message type of a TopicRef's frames. */
export type TopicMessage<R> = R extends TopicRef<infer T> ? T : never;

/** T1 `/P/requests`: snapshot = array (newest first); live = one request (`CREATE`/`UPDATE`) or a stub (`DELETE`). */
export type RequestsMessage = WireRequest[] | WireRequest | WireRequestStub;
/** T2 `/P/requests/R`: the request; a stub on `DELETE`. */
export type RequestMessage = WireRequest | WireRequestStub;
/** T3 `/P/requests/R/messages`: snapshot = array (ascending `createdAt`); live = one message. */
export type MessagesMessage = WireMessage[] | WireMessage;
/** T6 `/P/events/PU[/NAME]`: snapshot = array (newest first); live = one event. */
export type EventsMessage = WireEvent[] | WireEvent;

const ref = <T>(topic: string): TopicRef<T> => ({ topic });
const seg = (s: string): string => {
  if (s === '' || s.includes('/')) throw new TypeError(`topic segment ${JSON.stringify(s)}: must be non-empty and without /`);
  return s;
};

/** The topics of protocol.md §3, typed. Arguments are ids (project, request, project_user, user, bot). */
export const topic = {
  /** T1 */
  requests: (p: string) => ref<RequestsMessage>(`/${seg(p)}/requests`),
  /** T2 */
  request: (p: string, r: string) => ref<RequestMessage>(`/${seg(p)}/requests/${seg(r)}`),
  /** T3 */
  messages: (p: string, r: string) => ref<MessagesMessage>(`/${seg(p)}/requests/${seg(r)}/messages`),
  /** T4: the caller's own project_user. */
  projectUser: (p: string, pu: string) => ref<WireProjectUser>(`/${seg(p)}/project_users/${seg(pu)}`),
  /** T5: a member by user id or `uuid_user`. */
  projectUserByUser: (p: string, u: string) => ref<WireProjectUser>(`/${seg(p)}/project_users/users/${seg(u)}`),
  /** T6, and its `/NAME` form when `name` is given. */
  events: (p: string, pu: string, name?: string) =>
    ref<EventsMessage>(name === undefined ? `/${seg(p)}/events/${seg(pu)}` : `/${seg(p)}/events/${seg(pu)}/${seg(name)}`),
  /** T7: `null` for a bot the service does not know. */
  bot: (p: string, b: string) => ref<WireBot | null>(`/${seg(p)}/bots/${seg(b)}`),
  /** T8: snapshot `CREATE` with the whole object, then `UPDATE` with the whole object. */
  metrics: (p: string) => ref<ProjectMetrics>(`/${seg(p)}/metrics`),
  /** Any topic string, untyped (the watch CLI takes topics from the command line). */
  of: <T = unknown>(t: string) => ref<T>(t),
};
