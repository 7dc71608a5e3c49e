import Redis, { Cluster, ClusterOptions, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { AppConfig } from '../config/app-config';

export type RedisClient = Redis | Cluster;

/** The Redis settings of AppConfig, present when the Redis engine is configured. */
export type RedisConfig = NonNullable<AppConfig['redis']>;

/**
 * Redis connections of one replica. Commands fail fast while Redis is unreachable (no offline queue), so
 * callers answer 503 instead of hanging; ioredis keeps reconnecting in the background with a capped back-off.
 * Pub/sub and blocking stream reads get connections of their own.
 */
export class RedisConnections {
  readonly command: RedisClient;
  readonly subscriber: RedisClient;
  private readonly extra: RedisClient[] = [];

  constructor(
    readonly config: RedisConfig,
    private readonly log?: Logger,
    /** Told when a connection is ready again after a loss (the Prometheus reconnect counter). */
    private readonly onReconnect?: (connection: string) => void,
  ) {
    this.command = this.create('command', { enableOfflineQueue: false, autoPipelining: true });
    this.subscriber = this.create('subscriber', { enableOfflineQueue: true });
  }

  get isCluster(): boolean {
    return this.command instanceof Cluster;
  }

  /** Prefix for every key and channel (REDIS_PREFIX). */
  get prefix(): string {
    return this.config.prefix;
  }

  /** True while the command connection can serve commands. */
  get commandReady(): boolean {
    return this.command.status === 'ready';
  }

  /** Resolves once the command connection is ready (it is created connecting; commands fail fast before). */
  ready(timeoutMs = 10_000): Promise<void> {
    if (this.commandReady) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.command.off('ready', onReady);
        reject(new Error(`redis not ready after ${timeoutMs} ms`));
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.command.once('ready', onReady);
    });
  }

  /** A further connection (e.g. for blocking XREADGROUP), closed with the others. */
  createExtra(name: string): RedisClient {
    const c = this.create(name, { enableOfflineQueue: true });
    this.extra.push(c);
    return c;
  }

  async close(): Promise<void> {
    const all = [this.command, this.subscriber, ...this.extra];
    await Promise.allSettled(all.map((c) => c.quit()));
    // quit() may fail while Redis is away; a client that did end must not be disconnected again (a stray timer).
    for (const c of all) if (c.status !== 'end') c.disconnect();
  }

  /**
   * `autoPipelining`: commands issued in the same event-loop turn leave in one write (one syscall instead of
   * one per command); order on a connection is unchanged. Used for the command connection, where concurrent
   * applies and subscribe reads issue many small commands at once; not for pub/sub or blocking reads. Not on a
   * cluster: ioredis does not follow a MOVED answer inside an auto-pipelined batch that also wrote (ioredis
   * issue 2075), so after a reshard every mixed batch for the moved project would fail; commands go one by one
   * there, each redirected on its own.
   */
  private create(name: string, opts: { enableOfflineQueue: boolean; autoPipelining?: boolean }): RedisClient {
    const cluster = this.config.clusterNodes !== undefined && this.config.clusterNodes.length > 0;
    const base: RedisOptions = {
      connectionName: `tiledesk-realtime:${name}`,
      enableOfflineQueue: opts.enableOfflineQueue,
      enableAutoPipelining: !cluster && (opts.autoPipelining ?? false),
      maxRetriesPerRequest: opts.enableOfflineQueue ? null : 1,
      retryStrategy: (times) => Math.min(100 * times, 2000),
      lazyConnect: false,
    };
    if (cluster) {
      const clusterOpts: ClusterOptions = {
        redisOptions: base,
        enableOfflineQueue: opts.enableOfflineQueue,
        shardedSubscribers: true,
        clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      };
      return this.watched(name, new Cluster([...this.config.clusterNodes], clusterOpts));
    }
    const sentinels = this.config.sentinels;
    if (sentinels !== undefined && sentinels.length > 0) {
      // The primary is asked of the Sentinels at every (re)connect, so a failover is followed by reconnecting; a
      // REDIS_URL alongside only gives the password, database and TLS settings (ioredis ignores its host with sentinels).
      const sentinelOpts: RedisOptions = {
        ...base,
        sentinels: [...sentinels],
        name: this.config.sentinelMaster!,
        role: 'master',
        sentinelRetryStrategy: (times) => Math.min(100 * times, 2000),
        // A primary that became a replica answers writes with READONLY: drop the connection and ask again.
        reconnectOnError: (err) => (/^READONLY\b/.test(err.message) ? 2 : false),
      };
      return this.watched(name, this.config.url ? new Redis(this.config.url, sentinelOpts) : new Redis(sentinelOpts));
    }
    return this.watched(name, new Redis(this.config.url!, base));
  }

  /** Connection errors are expected during outages (ioredis reconnects): log them, never leave them unhandled. */
  private watched<C extends RedisClient>(name: string, client: C): C {
    let down = false;
    client.on('error', (err: Error) => {
      if (!down) this.log?.warn({ connection: name, err: err.message }, 'redis connection error');
      down = true;
    });
    // A connection the server closed (a restart, CLIENT KILL, a failover) may end without an error.
    let lost = false;
    client.on('close', () => {
      lost = true;
    });
    client.on('ready', () => {
      if (down) this.log?.info({ connection: name }, 'redis connection ready again');
      if (down || lost) this.onReconnect?.(name);
      down = false;
      lost = false;
    });
    return client;
  }
}

/**
 * Redis error replies that mean "not now", not "never": a failover under way, a node loading or out of memory, a busy
 * script, writes refused after a failed save (MISCONF), a password changed under us (NOAUTH), too many clients.
 */
const TRANSIENT_REPLY =
  /^(LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|BUSY|OOM|NOREPLICAS|MISCONF|NOAUTH|ERR max number of clients)\b/;

/** Redis cannot be used right now (no connection, or a transient reply): what was asked may work once it is back. */
export function isConnectionError(err: unknown): boolean {
  const msg = (err as Error)?.message ?? '';
  return (
    TRANSIENT_REPLY.test(msg) ||
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|MaxRetriesPerRequest|connect|Cluster/i.test(
      msg,
    )
  );
}
