import type { Logger } from 'pino';
import { RedisClient, RedisConnections, isConnectionError } from '../../engine/redis-connections';
import {
  Admission,
  CONNECTION_RATE_WINDOW_MS,
  ConnectionLimitName,
  ConnectionLimitValues,
  ConnectionLimits,
  ConnectionTicket,
} from '../connection-limits';
import { ADMIT_SCRIPT, JOIN_PROJECT_SCRIPT, RENEW_SCRIPT } from './limit-scripts';

export interface RedisConnectionLimitsOptions {
  values: ConnectionLimitValues;
  /** How long a place outlives its last renewal (WS_HEARTBEAT_INTERVAL_MS); renewed twice per lease. */
  leaseMs: number;
  /** Milliseconds for the scripts (tests); unset, the scripts read Redis's own clock. */
  now?: () => number;
  log?: Logger;
}

interface LimitScripts {
  rtAdmit(ru: string, ri: string, cu: string, ...args: Array<string | number>): Promise<[number, number]>;
  rtJoinProject(conns: string, ...args: Array<string | number>): Promise<number>;
  rtRenew(numKeys: number, ...keysAndArgs: Array<string | number>): Promise<number>;
}

const REFUSED_BY: Record<number, Exclude<ConnectionLimitName, 'MAX_CONN_PER_PROJECT'>> = {
  1: 'RATE_CONN_PER_USER_PER_MIN',
  2: 'RATE_CONN_PER_IP_PER_MIN',
  3: 'MAX_CONN_PER_USER',
};

/** Places renewed per script call (a script's keys share one slot), and the pause between two calls of a round. */
const RENEW_CHUNK = 250;
const RENEW_PAUSE_MS = 5;

/** A project place taken by this replica; `held` once Redis granted it (only those are renewed). */
interface Seat {
  held: boolean;
}

/**
 * The Redis engine's limits, shared by every replica. Keys (REDIS_PREFIX first):
 * `{lim}:ru:<user>` and `{lim}:ri:<ip>`: zsets of the connections admitted within the last minute, by time;
 * `{lim}:cu:<user>`: zset of the user's open connections, each scored by the end of its lease;
 * `{<project>}:conns`: zset of the connections holding a subscription in the project, by lease end (on the
 * project's slot). A handshake is one script on the `{lim}` slot, a first subscribe in a project one script on
 * the project's slot. Each replica renews the leases of its own connections twice per lease; a replica
 * that dies renews nothing, and its places are dropped by the next admit or join once their lease ends.
 */
export class RedisConnectionLimits extends ConnectionLimits {
  private readonly redis: RedisClient;
  private readonly scripts: LimitScripts;
  /** What the scripts take as now: 0 makes them read Redis's TIME. */
  private readonly now: () => number;
  /** This replica's admitted connections: connection id → user id. */
  private readonly places = new Map<string, string>();
  /** This replica's project places: project id → connection id → seat. */
  private readonly seats = new Map<string, Map<string, Seat>>();
  private readonly timer: NodeJS.Timeout;
  private readonly prefix: string;

  constructor(
    connections: RedisConnections,
    private readonly opts: RedisConnectionLimitsOptions,
  ) {
    super();
    this.redis = connections.command;
    this.prefix = connections.prefix;
    this.now = opts.now ?? (() => 0);
    this.redis.defineCommand('rtAdmit', { numberOfKeys: 3, lua: ADMIT_SCRIPT });
    this.redis.defineCommand('rtJoinProject', { numberOfKeys: 1, lua: JOIN_PROJECT_SCRIPT });
    this.redis.defineCommand('rtRenew', { lua: RENEW_SCRIPT });
    this.scripts = this.redis as unknown as LimitScripts;
    this.timer = setInterval(() => void this.renew(), Math.max(50, Math.floor(opts.leaseMs / 2)));
    this.timer.unref();
  }

  userRateKey(userId: string): string {
    return `${this.prefix}{lim}:ru:${userId}`;
  }
  ipRateKey(ip: string): string {
    return `${this.prefix}{lim}:ri:${ip}`;
  }
  userConnsKey(userId: string): string {
    return `${this.prefix}{lim}:cu:${userId}`;
  }
  projectConnsKey(projectId: string): string {
    return `${this.prefix}{${projectId}}:conns`;
  }

  async admit(t: ConnectionTicket): Promise<Admission> {
    const v = this.opts.values;
    const [code, retryMs] = await this.scripts.rtAdmit(
      this.userRateKey(t.userId),
      this.ipRateKey(t.ip),
      this.userConnsKey(t.userId),
      this.now(),
      CONNECTION_RATE_WINDOW_MS,
      v.connPerUserPerMin,
      v.connPerIpPerMin,
      v.maxConnPerUser,
      t.connId,
      this.opts.leaseMs,
    );
    if (code === 0) {
      this.places.set(t.connId, t.userId);
      return { ok: true };
    }
    const limit = REFUSED_BY[code]!;
    const max =
      limit === 'RATE_CONN_PER_USER_PER_MIN'
        ? v.connPerUserPerMin
        : limit === 'RATE_CONN_PER_IP_PER_MIN'
          ? v.connPerIpPerMin
          : v.maxConnPerUser;
    return { ok: false, limit, max, retryAfterMs: code === 3 ? this.opts.leaseMs : retryMs };
  }

  release(connId: string, userId: string): void {
    if (!this.places.delete(connId)) return;
    void this.quietly(this.redis.zrem(this.userConnsKey(userId), connId));
  }

  async joinProject(connId: string, projectId: string): Promise<boolean> {
    let conns = this.seats.get(projectId);
    if (!conns) this.seats.set(projectId, (conns = new Map<string, Seat>()));
    const seat: Seat = { held: false };
    conns.set(connId, seat);
    const stillMine = () => this.seats.get(projectId)?.get(connId) === seat;
    try {
      const ok = await this.scripts.rtJoinProject(
        this.projectConnsKey(projectId),
        this.now(),
        this.opts.leaseMs,
        this.opts.values.maxConnPerProject,
        connId,
      );
      if (ok === 1) {
        seat.held = true;
        return true;
      }
      if (stillMine()) this.forgetSeat(projectId, connId);
      return false;
    } catch (err) {
      // Not refused, only not counted yet: the renewal adds the place once Redis answers again.
      seat.held = true;
      this.opts.log?.debug({ err, project: projectId }, 'project place not taken (redis unavailable); renewed later');
      return true;
    }
  }

  leaveProject(connId: string, projectId: string): void {
    if (!this.forgetSeat(projectId, connId)) return;
    void this.quietly(this.redis.zrem(this.projectConnsKey(projectId), connId));
  }

  close(): void {
    clearInterval(this.timer);
  }

  /**
   * Extends the lease of every place this replica holds (also putting back places that a Redis restarted empty
   * lost). Only places Redis granted are renewed: a renewal sent while a join is in flight must not take a
   * place the join is about to be refused. Done in slices of RENEW_CHUNK places, one script call each, a few ms
   * apart, so that renewing ten thousand places holds up neither delivery here nor Redis. One round at a time;
   * resolves when every slice was answered.
   */
  renew(): Promise<void> {
    this.renewing ??= this.renewRound().finally(() => (this.renewing = null));
    return this.renewing;
  }
  private renewing: Promise<void> | null = null;

  private async renewRound(): Promise<void> {
    const now = this.now();
    const sent: Array<Promise<unknown>> = [];
    let slice = new Map<string, string[]>();
    let size = 0;
    const flush = () => {
      if (size === 0) return;
      const args: Array<string | number> = [];
      for (const members of slice.values()) args.push(members.length, ...members);
      sent.push(this.quietly(this.scripts.rtRenew(slice.size, ...slice.keys(), now, this.opts.leaseMs, ...args)));
      slice = new Map();
      size = 0;
    };
    const add = async (key: string, member: string) => {
      const members = slice.get(key);
      if (members) members.push(member);
      else slice.set(key, [member]);
      if (++size < RENEW_CHUNK) return;
      flush();
      // Spread over time: a round of ten thousand places is a few dozen short scripts, not one burst on Redis.
      await new Promise((resolve) => setTimeout(resolve, RENEW_PAUSE_MS));
    };
    // Maps iterated across turns skip what was deleted meanwhile (a place released after its slice was sent is
    // removed by its own ZREM, sent after the renewal on the same connection).
    for (const [connId, userId] of this.places) await add(this.userConnsKey(userId), connId);
    flush(); // the places' keys share the {lim} slot; each project's keys its own
    for (const [projectId, conns] of this.seats) {
      const key = this.projectConnsKey(projectId);
      for (const [connId, seat] of conns) if (seat.held) await add(key, connId);
      flush();
    }
    await Promise.all(sent);
  }

  private forgetSeat(projectId: string, connId: string): boolean {
    const conns = this.seats.get(projectId);
    if (!conns?.delete(connId)) return false;
    if (conns.size === 0) this.seats.delete(projectId);
    return true;
  }

  /** Releases and renewals may fail while Redis is away: leases end by themselves, and the next renewal heals. */
  private quietly(p: Promise<unknown>): Promise<unknown> {
    return p.catch((err: unknown) => {
      if (isConnectionError(err)) this.opts.log?.debug({ err }, 'connection limits: redis unavailable');
      else this.opts.log?.error({ err }, 'connection limits: redis command failed');
    });
  }
}
