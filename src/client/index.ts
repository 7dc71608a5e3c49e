/**
 * The typed Realtime API client, browser entry: no Node built-ins and no `ws` anywhere in its import graph
 * (the dashboard bundles it for the browser; browser-safety.spec.ts checks the graph). In Node, import
 * `./node` instead: the same API with a WebSocket built on `ws`. Usage: docs/client.md.
 */
export { CLOSE_TOKEN_EXPIRED, RealtimeClient, urlWithToken } from './realtime-client';
export type {
  ClientErrorEvent,
  ClientSubscription,
  CloseInfo,
  ConnectionState,
  FrameMeta,
  RateLimitedEvent,
  RealtimeClientEvents,
  RealtimeClientOptions,
  SubscriptionHandlers,
  UnauthorizedEvent,
  WebSocketConstructorLike,
  WebSocketLike,
} from './realtime-client';
export { topic } from './topic-refs';
export type { EventsMessage, MessagesMessage, RequestMessage, RequestsMessage, TopicMessage, TopicRef } from './topic-refs';
export { backoffCapMs, backoffDelayMs, DEFAULT_RECONNECT, reconnectPolicy } from './reconnect-backoff';
export type { ReconnectOptions, ReconnectPolicy } from './reconnect-backoff';
export { parseHandshakeRefusal } from './handshake-refusal';
export type { HandshakeRefusal } from './handshake-refusal';
export type * from './wire-types';
export type { ProjectMetrics } from '../analytics/metrics-shape';
