import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { RedisServer, freePort } from './redis-server';
import { until } from './wait-for';

export const SENTINEL_MASTER = 'rtmaster';

/**
 * A Sentinel-managed Redis for tests, all real processes on loopback: a primary, a replica of it, and one
 * `redis-server --sentinel` (quorum 1) that promotes a replica one second after the primary stops answering.
 */
export class RedisSentinelSet {
  private constructor(
    readonly primary: RedisServer,
    readonly replicas: RedisServer[],
    private readonly sentinel: ChildProcess,
    readonly sentinelPort: number,
    private readonly dir: string,
  ) {}

  /** `replicas`: how many replicas of the primary (one by default; two keep one after a failover). */
  static async start(opts: { replicas?: number } = {}): Promise<RedisSentinelSet> {
    const primary = await RedisServer.start();
    const replicas: RedisServer[] = [];
    for (let i = 0; i < (opts.replicas ?? 1); i++) {
      const replica = await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
      const r = new Redis({ port: replica.port, host: '127.0.0.1', lazyConnect: true });
      await r.connect();
      try {
        await until(async () => /master_link_status:up/.test(await r.info('replication')), 'the replica to sync with the primary');
      } finally {
        r.disconnect();
      }
      replicas.push(replica);
    }
    const dir = mkdtempSync(join(tmpdir(), 'rt-sentinel-'));
    const port = await freePort();
    const conf = join(dir, 'sentinel.conf');
    // Sentinel rewrites its configuration file as it learns: it must be a writable file of its own.
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${primary.port} 1`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
        `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
        '',
      ].join('\n'),
    );
    const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const set = new RedisSentinelSet(primary, replicas, sentinel, port, dir);
    await until(async () => (await set.currentPrimaryPort()) === primary.port, 'the sentinel to know the primary');
    // It must also have discovered the replica, or it has nobody to promote.
    await until(async () => {
      const s = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
      try {
        await s.connect();
        const known = (await s.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER)) as unknown[];
        return known.length >= replicas.length;
      } finally {
        s.disconnect();
      }
    }, 'the sentinel to discover the replica');
    return set;
  }

  /** The service's settings for this set. */
  env(): Record<string, string> {
    return { REDIS_SENTINELS: `127.0.0.1:${this.sentinelPort}`, REDIS_SENTINEL_MASTER: SENTINEL_MASTER };
  }

  /** The port of the primary as the sentinel reports it now. */
  async currentPrimaryPort(): Promise<number | null> {
    const s = new Redis({ port: this.sentinelPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
    try {
      await s.connect();
      const addr = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER)) as [string, string] | null;
      return addr ? Number(addr[1]) : null;
    } catch {
      return null;
    } finally {
      s.disconnect();
    }
  }

  /** Kills the primary (SIGKILL) and waits until the sentinel has promoted a replica; returns it. */
  async failOver(): Promise<RedisServer> {
    await this.primary.kill();
    const port = await until(
      async () => {
        const now = await this.currentPrimaryPort();
        return now !== null && now !== this.primary.port ? now : null;
      },
      'the sentinel to promote a replica',
      30_000,
    );
    return this.replicas.find((r) => r.port === port)!;
  }

  async stop(): Promise<void> {
    if (this.sentinel.exitCode === null && this.sentinel.signalCode === null) {
      const exited = new Promise((r) => this.sentinel.once('exit', r));
      this.sentinel.kill('SIGKILL');
      await exited;
    }
    await Promise.all([this.primary.stop(), ...this.replicas.map((r) => r.stop())]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
