import { LimitsConfig } from '../config/app-config';

/** The variable behind each handshake or subscribe limit (operations.md §3); refusals name it. */
export type ConnectionLimitName = 'RATE_CONN_PER_USER_PER_MIN' | 'RATE_CONN_PER_IP_PER_MIN' | 'MAX_CONN_PER_USER' | 'MAX_CONN_PER_PROJECT';

/** Sliding window of the new-connection rates. */
export const CONNECTION_RATE_WINDOW_MS = 60_000;

export type Admission =
  | { ok: true }
  | {
      ok: false;
      limit: Exclude<ConnectionLimitName, 'MAX_CONN_PER_PROJECT'>;
      /** The limit's value. */
      max: number;
      /** How long until a new connection would be admitted (rates: exact; the cap: when a place may free). */
      retryAfterMs: number;
    };

/** One new connection as the limits see it. */
export interface ConnectionTicket {
  connId: string;
  userId: string;
  /** The client's address, after TRUST_PROXY. */
  ip: string;
}

export type ConnectionLimitValues = Pick<LimitsConfig, 'connPerUserPerMin' | 'connPerIpPerMin' | 'maxConnPerUser' | 'maxConnPerProject'>;

/**
 * Connection quotas and handshake rates (operations.md §3): new connections per user and per client IP over a
 * sliding minute, concurrent connections per user, and concurrent connections per project (those holding a
 * subscription there). One place for every replica: in memory on the memory engine, in Redis on the Redis
 * engine, where each connection's places are leases that its replica renews, so that the places of a replica
 * that died without cleanup come back within one lease (WS_HEARTBEAT_INTERVAL_MS).
 */
export abstract class ConnectionLimits {
  /**
   * Counts a new connection against the user's and the IP's rates and the user's cap, all or nothing (a
   * refused connection counts against nothing). Rejects when the store is unreachable.
   */
  abstract admit(ticket: ConnectionTicket): Promise<Admission>;
  /** The connection ended: its place under MAX_CONN_PER_USER is free again. */
  abstract release(connId: string, userId: string): void;
  /**
   * Takes a place among the project's connections for this connection (kept while it holds a subscription
   * there); true when it has one (already held, or taken now), false when MAX_CONN_PER_PROJECT are taken.
   * Never rejects: when the store cannot be reached the place is granted and counted once it is back.
   */
  abstract joinProject(connId: string, projectId: string): Promise<boolean>;
  /** The connection holds no subscription in the project any more. */
  abstract leaveProject(connId: string, projectId: string): void;
  /** Stops timers; places are left to expire (Redis) or go with the process (memory). */
  abstract close(): Promise<void> | void;

  /**
   * Nest calls this last when the app closes: after the gateway's drain, during which the connections still open
   * keep their places (renewed), so other replicas cannot admit past the caps during a rollout.
   */
  onApplicationShutdown(): Promise<void> | void {
    return this.close();
  }
}

/** Rounded up to whole seconds, at least 1: what Retry-After and `retry_after_s` carry. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
