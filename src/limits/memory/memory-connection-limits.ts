import { addToIndex, removeFromIndex } from '../../common/set-index';
import { Admission, ConnectionLimitValues, ConnectionLimits, ConnectionTicket } from '../connection-limits';
import { SlidingWindows } from '../sliding-window';

export interface MemoryConnectionLimitsOptions {
  values: ConnectionLimitValues;
  /** The retry hint for a full cap: a place frees only when a connection ends (WS_HEARTBEAT_INTERVAL_MS). */
  capRetryMs: number;
  now?: () => number;
}

/** The memory engine's limits: one process, so every count is a map in it. */
export class MemoryConnectionLimits extends ConnectionLimits {
  private readonly userRates: SlidingWindows;
  private readonly ipRates: SlidingWindows;
  private readonly userConns = new Map<string, Set<string>>();
  private readonly projectConns = new Map<string, Set<string>>();
  private readonly now: () => number;

  constructor(private readonly opts: MemoryConnectionLimitsOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.userRates = new SlidingWindows(this.now);
    this.ipRates = new SlidingWindows(this.now);
  }

  admit(t: ConnectionTicket): Promise<Admission> {
    const now = this.now();
    const v = this.opts.values;
    // Looked up, not created: a refused attempt leaves nothing behind (a flood of new addresses stays free).
    const user = this.userRates.current(t.userId);
    const ip = this.ipRates.current(t.ip);
    const conns = this.userConns.get(t.userId);
    let refusal: Admission | null = null;
    if (user && user.times.length >= v.connPerUserPerMin) {
      refusal = { ok: false, limit: 'RATE_CONN_PER_USER_PER_MIN', max: v.connPerUserPerMin, retryAfterMs: user.retryAfter(now) };
    } else if (ip && ip.times.length >= v.connPerIpPerMin) {
      refusal = { ok: false, limit: 'RATE_CONN_PER_IP_PER_MIN', max: v.connPerIpPerMin, retryAfterMs: ip.retryAfter(now) };
    } else if ((conns?.size ?? 0) >= v.maxConnPerUser) {
      refusal = { ok: false, limit: 'MAX_CONN_PER_USER', max: v.maxConnPerUser, retryAfterMs: this.opts.capRetryMs };
    }
    if (refusal) return Promise.resolve(refusal);
    this.userRates.record(t.userId);
    this.ipRates.record(t.ip);
    addToIndex(this.userConns, t.userId, t.connId);
    return Promise.resolve({ ok: true });
  }

  release(connId: string, userId: string): void {
    removeFromIndex(this.userConns, userId, connId);
  }

  joinProject(connId: string, projectId: string): Promise<boolean> {
    const conns = this.projectConns.get(projectId);
    if (conns?.has(connId)) return Promise.resolve(true);
    if ((conns?.size ?? 0) >= this.opts.values.maxConnPerProject) return Promise.resolve(false);
    addToIndex(this.projectConns, projectId, connId);
    return Promise.resolve(true);
  }

  leaveProject(connId: string, projectId: string): void {
    removeFromIndex(this.projectConns, projectId, connId);
  }

  close(): void {
    this.userRates.close();
    this.ipRates.close();
  }
}
