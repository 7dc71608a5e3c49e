import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisConnections } from '../../src/engine/redis-connections';
import { freeLoopbackPort as freePort } from '../../src/ops/cluster-local/managed-process';
import { waitRedisAnswers } from '../../src/ops/cluster-local/redis-ping';

/**
 * Real `redis-server` processes for tests: started on free loopback ports with no persistence, stopped after.
 * When the binary is missing the error says how to install it (tests never fall back to a mock).
 */

export function requireRedisBinary(): void {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('redis-server is not installed: these tests need a real Redis. Install it with `apt-get install -y redis-server`.');
  }
}

export { freePort };

export class RedisServer {
  private proc: ChildProcess | null = null;
  private readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'rt-redis-'));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The service's Redis connections to this server (prefix `rt:`), ready. */
  async connections(): Promise<RedisConnections> {
    const connections = new RedisConnections({ url: this.url, prefix: 'rt:', claimIdleMs: 30000, streamMaxLen: 1000 });
    await connections.ready();
    return connections;
  }

  /** Starts a server on a free port (or the given one, to restart in place). */
  static async start(opts: { port?: number; args?: string[] } = {}): Promise<RedisServer> {
    requireRedisBinary();
    const server = new RedisServer(opts.port ?? (await freePort()), opts.args ?? []);
    await server.launch();
    return server;
  }

  async launch(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      ...this.extraArgs,
    ];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    let output = '';
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitRedisAnswers(this.port, 10_000, {
      get exited() {
        return proc.exitCode !== null;
      },
      get output() {
        return output;
      },
    });
  }

  /** SIGKILL: an outage, not a shutdown. */
  async kill(): Promise<void> {
    const proc = this.proc;
    // A child killed by a signal has signalCode set and exitCode null.
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis Cluster of three masters (no replicas), created with `redis-cli --cluster create`. */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  /** `host:port,host:port,...` as REDIS_CLUSTER_NODES takes it. */
  get nodesEnv(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  static async start(): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      nodes.push(
        await RedisServer.start({
          port,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'],
        }),
      );
    }
    execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes'], { stdio: 'ignore' });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const info = execFileSync('redis-cli', ['-p', String(nodes[0]!.port), 'cluster', 'info']).toString();
      if (info.includes('cluster_state:ok')) break;
      if (Date.now() > deadline) throw new Error(`cluster did not become ok: ${info}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return new RedisCluster(nodes);
  }

  /** The service's Redis connections in cluster mode (prefix `rt:`), ready. */
  async connections(): Promise<RedisConnections> {
    const connections = new RedisConnections({
      clusterNodes: this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      prefix: 'rt:',
      claimIdleMs: 30000,
      streamMaxLen: 1000,
    });
    await connections.ready();
    return connections;
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.stop();
  }
}
