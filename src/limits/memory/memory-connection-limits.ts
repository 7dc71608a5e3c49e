import { addToIndex, removeFromIndex } from '../../common/set-index';
import { Admission, CONNECTION_RATE_WINDOW_MS, ConnectionLimitValues, ConnectionLimits, ConnectionTicket } from '../connection-limits';

export interface MemoryConnectionLimitsOptions {
  values: ConnectionLimitValues;
  /** The retry hint for a full cap: a place frees only when a connection ends (WS_HEARTBEAT_INTERVAL_MS). */
  capRetryMs: number;
  now?: () => number;
}

/** Admission times within the sliding window, oldest first. */
class SlidingWindow {
  readonly times: number[] = [];

  prune(now: number): void {
    const from = now - CONNECTION_RATE_WINDOW_MS;
    let drop = 0;
    while (drop < this.times.length && this.times[drop]! <= from) drop++;
    if (drop > 0) this.times.splice(0, drop);
  }

  /** Until the oldest admission leaves the window. */
  retryAfter(now: number): number {
    return this.times[0]! + CONNECTION_RATE_WINDOW_MS - now;
  }
}

/** The memory engine's limits: one process, so every count is a map in it. */
export class MemoryConnectionLimits extends ConnectionLimits {
  private readonly userRates = new Map<string, SlidingWindow>();
  private readonly ipRates = new Map<string, SlidingWindow>();
  private readonly userConns = new Map<string, Set<string>>();
  private readonly projectConns = new Map<string, Set<string>>();
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: MemoryConnectionLimitsOptions) {
    super();
    this.now = opts.now ?? Date.now;
    // Windows of users and addresses that stopped connecting are forgotten, so the maps stay small.
    this.timer = setInterval(() => this.forgetIdle(), CONNECTION_RATE_WINDOW_MS);
    this.timer.unref();
  }

  admit(t: ConnectionTicket): Promise<Admission> {
    const now = this.now();
    const v = this.opts.values;
    // Looked up, not created: a refused attempt leaves nothing behind (a flood of new addresses stays free).
    const user = current(this.userRates, t.userId, now);
    const ip = current(this.ipRates, t.ip, now);
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
    (user ?? created(this.userRates, t.userId)).times.push(now);
    (ip ?? created(this.ipRates, t.ip)).times.push(now);
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

  /** Open connections of a user, and connections holding a place in a project (for tests and diagnostics). */
  counts(): { users: Map<string, number>; projects: Map<string, number> } {
    const size = (m: Map<string, Set<string>>) => new Map([...m].map(([k, s]) => [k, s.size]));
    return { users: size(this.userConns), projects: size(this.projectConns) };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private forgetIdle(): void {
    const now = this.now();
    for (const m of [this.userRates, this.ipRates]) {
      for (const [k, w] of m) {
        w.prune(now);
        if (w.times.length === 0) m.delete(k);
      }
    }
  }
}

function current(m: Map<string, SlidingWindow>, key: string, now: number): SlidingWindow | undefined {
  const w = m.get(key);
  w?.prune(now);
  return w;
}

function created(m: Map<string, SlidingWindow>, key: string): SlidingWindow {
  const w = new SlidingWindow();
  m.set(key, w);
  return w;
}
