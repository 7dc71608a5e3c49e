import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freeLoopbackPort, loopbackPortInUse, ManagedProcess } from './managed-process';
import { PinnedHttps } from './pinned-https';
import { waitRedisAnswers } from './redis-ping';

/** The proxy's port when neither the options nor CLUSTER_PORT say otherwise (as in docker-compose.yml). */
export const DEFAULT_CLUSTER_PORT = 8443;
/** As docker-compose.yml: long enough to see the drain, short enough for a Ctrl-C. */
export const DEFAULT_CLUSTER_DRAIN_MS = 10_000;
/** The replicas trust X-Forwarded-* from the proxy only; on one machine the proxy connects from loopback. */
const PROXY_ADDRESS = '127.0.0.1';

export interface ClusterLocalOptions {
  /** The proxy's port on 127.0.0.1 (default 8443; 0 picks a free one). */
  port?: number;
  /**
   * Settings for both replicas, as the service reads them (GLOBAL_SECRET, INGEST_TOKEN, limits,
   * SHUTDOWN_DRAIN_MS, LOG_LEVEL, METRICS_*, ...). GLOBAL_SECRET and INGEST_TOKEN are random when absent.
   * The topology's own settings (ports, REDIS_URL, TRUST_PROXY, REQUIRE_TLS, no TLS in the service) are
   * always cluster:local's.
   */
  env?: Record<string, string | undefined>;
  /** Every line a child prints, with its name (`redis`, `realtime-1`, `realtime-2`, `proxy`); default: kept for errors. */
  onOutput?: (name: string, line: string) => void;
  /** The repository (for deploy/proxy/ and dist/main.js); found from this file by default. */
  rootDir?: string;
  /** How long each part may take to become ready (default 30 s). */
  startTimeoutMs?: number;
}

export interface ReplicaHandle {
  name: 'realtime-1' | 'realtime-2';
  port: number;
  metricsPort: number;
  /** Plain http straight to the replica (only /healthz and /readyz answer it: REQUIRE_TLS is on). */
  httpUrl: string;
  process: ManagedProcess;
}

export interface ClusterLocal {
  /** The proxy as a client reaches it: `https://127.0.0.1:<port>`. */
  httpsUrl: string;
  /** The WebSocket endpoint through the proxy: `wss://127.0.0.1:<port><WS_SERVER_PATH>`. */
  wssUrl: string;
  port: number;
  /** The self-signed certificate alone (trust it: curl --cacert, NODE_EXTRA_CA_CERTS) and its PEM text. */
  certFile: string;
  certPem: string;
  globalSecret: string;
  ingestToken: string;
  drainMs: number;
  redis: { port: number; url: string; process: ManagedProcess };
  replicas: [ReplicaHandle, ReplicaHandle];
  /** haproxy with the environment its configuration reads (the same names docker-compose.yml sets). */
  proxy: { configFile: string; env: Record<string, string>; process: ManagedProcess };
  /** Replicas with SIGTERM (they drain), then the proxy, then Redis; removes the temporary directory. */
  stop(): Promise<void>;
  /** SIGKILL to everything still running, at once (a second Ctrl-C). */
  killNow(): void;
}

/** Where the repository is: this file is src/ops/cluster-local/ (ts-jest) or dist/ops/cluster-local/ (built). */
export function repositoryRoot(): string {
  return resolve(__dirname, '..', '..', '..');
}

/** An executable by name on PATH (plus the sbin directories a non-root PATH often lacks), or null. */
export function findExecutable(name: string, pathEnv = process.env.PATH ?? ''): string | null {
  const dirs = [...pathEnv.split(delimiter).filter((d) => d !== ''), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

interface Prerequisites {
  haproxy: string;
  redisServer: string;
  main: string;
  configFile: string;
  makeCert: string;
}

/** Everything cluster:local needs, checked before anything starts; one error naming every missing piece. */
function checkPrerequisites(root: string): Prerequisites {
  const problems: string[] = [];
  const haproxy = findExecutable('haproxy');
  if (!haproxy) problems.push('haproxy not found: apt-get install -y haproxy (the proxy of docker-compose.yml, from Debian)');
  const redisServer = findExecutable('redis-server');
  if (!redisServer) problems.push('redis-server not found: apt-get install -y redis-server');
  if (!findExecutable('openssl')) problems.push('openssl not found: apt-get install -y openssl (it makes the self-signed certificate)');
  if (!findExecutable('sh')) problems.push('sh not found (deploy/proxy/make-cert.sh is a POSIX shell script)');
  const main = join(root, 'dist', 'main.js');
  if (!existsSync(main)) problems.push(`${main} is missing: run npm run build first (npm run cluster:local does)`);
  const configFile = join(root, 'deploy', 'proxy', 'haproxy.cfg');
  const makeCert = join(root, 'deploy', 'proxy', 'make-cert.sh');
  for (const f of [configFile, makeCert]) if (!existsSync(f)) problems.push(`${f} is missing`);
  if (problems.length > 0) throw new Error(`cluster:local cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return { haproxy: haproxy!, redisServer: redisServer!, main, configFile, makeCert };
}

/**
 * `npm run cluster:local`: docker-compose.yml's topology without Docker. A `redis-server` without persistence,
 * two replica processes of dist/main.js on the Redis engine (REQUIRE_TLS, TRUST_PROXY = the proxy), and
 * Debian's haproxy on deploy/proxy/haproxy.cfg, the very file compose mounts, terminating TLS with a
 * self-signed certificate made by deploy/proxy/make-cert.sh. Everything listens on loopback only.
 * Resolves once `https://127.0.0.1:<port>/readyz` answers 200 through the proxy.
 */
export async function startClusterLocal(opts: ClusterLocalOptions = {}): Promise<ClusterLocal> {
  const root = opts.rootDir ?? repositoryRoot();
  const pre = checkPrerequisites(root);
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const serviceEnv = opts.env ?? {};
  const globalSecret = serviceEnv.GLOBAL_SECRET || randomBytes(32).toString('hex');
  const ingestToken = serviceEnv.INGEST_TOKEN || randomBytes(24).toString('hex');
  const drainMs = serviceEnv.SHUTDOWN_DRAIN_MS ? Number(serviceEnv.SHUTDOWN_DRAIN_MS) : DEFAULT_CLUSTER_DRAIN_MS;
  const wsPath = serviceEnv.WS_SERVER_PATH || '/';

  const requested = opts.port ?? DEFAULT_CLUSTER_PORT;
  if (!Number.isInteger(requested) || requested < 0 || requested > 65535) {
    throw new Error(`cluster:local: the proxy port must be a whole number from 0 to 65535 (got ${requested})`);
  }
  if (requested !== 0 && (await loopbackPortInUse(requested))) {
    throw new Error(
      `cluster:local: port ${requested} is already in use on 127.0.0.1: set CLUSTER_PORT to another port (0 picks a free one)`,
    );
  }

  const dir = mkdtempSync(join(tmpdir(), 'rt-cluster-local-'));
  const started: ManagedProcess[] = [];
  const killAll = () => {
    for (const p of started) p.killNow();
  };
  // Whatever way this process ends, nothing it started outlives it (the children have their own process group).
  process.on('exit', killAll);
  const cleanup = (): void => {
    process.removeListener('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // The script compose's `certs` service runs, so the file haproxy gets is made the same way.
    await promisify(execFile)('sh', [pre.makeCert, dir], { env: { PATH: process.env.PATH, CERT_SANS: 'DNS:localhost,IP:127.0.0.1' } });
    const certFile = join(dir, 'realtime.crt');
    const pemFile = join(dir, 'realtime.pem');
    const certPem = readFileSync(certFile, 'utf8');

    const port = requested === 0 ? await freeLoopbackPort() : requested;
    const redisPort = await freeLoopbackPort();
    const redis = ManagedProcess.start(
      'redis',
      pre.redisServer,
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'],
      { PATH: process.env.PATH },
      opts.onOutput,
    );
    started.push(redis);
    await waitRedisAnswers(redisPort, timeoutMs, redis);
    const redisUrl = `redis://127.0.0.1:${redisPort}`;

    const replicaEnv = (port: number, metricsPort: number): Record<string, string | undefined> => ({
      PATH: process.env.PATH,
      LOG_LEVEL: 'warn',
      ...serviceEnv,
      SHUTDOWN_DRAIN_MS: String(drainMs),
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      GLOBAL_SECRET: globalSecret,
      GLOBAL_SECRET_OR_PUB_KEY: '',
      INGEST_TOKEN: ingestToken,
      REDIS_URL: redisUrl,
      REDIS_CLUSTER_NODES: '',
      REDIS_SENTINELS: '',
      REDIS_SENTINEL_MASTER: '',
      // What makes it the compose topology: TLS ends at the proxy, and only the proxy's headers count.
      TRUST_PROXY: PROXY_ADDRESS,
      REQUIRE_TLS: 'true',
      TLS_CERT_FILE: '',
      TLS_KEY_FILE: '',
    });
    const replicas: ReplicaHandle[] = [];
    for (const name of ['realtime-1', 'realtime-2'] as const) {
      const replicaPort = await freeLoopbackPort();
      const metricsPort = await freeLoopbackPort();
      const proc = ManagedProcess.start(name, process.execPath, [pre.main], replicaEnv(replicaPort, metricsPort), opts.onOutput);
      started.push(proc);
      replicas.push({ name, port: replicaPort, metricsPort, httpUrl: `http://127.0.0.1:${replicaPort}`, process: proc });
    }
    await Promise.all(replicas.map((r) => waitReplica(r, timeoutMs)));

    const proxyEnv = {
      PROXY_BIND_ADDR: '127.0.0.1',
      PROXY_PORT: String(port),
      PROXY_CERT_PEM: pemFile,
      REALTIME_1_ADDR: `127.0.0.1:${replicas[0]!.port}`,
      REALTIME_2_ADDR: `127.0.0.1:${replicas[1]!.port}`,
    };
    const proxy = ManagedProcess.start(
      'proxy',
      pre.haproxy,
      // -db: stay in the foreground (logs on stdout, signals straight to it).
      ['-db', '-f', pre.configFile],
      { PATH: process.env.PATH, ...proxyEnv },
      opts.onOutput,
    );
    started.push(proxy);
    const httpsUrl = `https://127.0.0.1:${port}`;
    const probe = new PinnedHttps(certPem, false);
    try {
      await probe.waitReady(httpsUrl, timeoutMs, () =>
        proxy.exited ? `haproxy exited during start (${pre.haproxy} -f ${pre.configFile}):\n${proxy.output.trim()}` : null,
      );
    } finally {
      probe.close();
    }

    let stopping: Promise<void> | null = null;
    return {
      httpsUrl,
      wssUrl: `wss://127.0.0.1:${port}${wsPath}`,
      port,
      certFile,
      certPem,
      globalSecret,
      ingestToken,
      drainMs,
      redis: { port: redisPort, url: redisUrl, process: redis },
      replicas: [replicas[0]!, replicas[1]!],
      proxy: { configFile: pre.configFile, env: proxyEnv, process: proxy },
      stop() {
        stopping ??= (async () => {
          // The replicas first: they drain (readyz 503, connections closed with 1001 over the window) while the
          // proxy still carries the closes; then the proxy; Redis last, once nothing uses it.
          await Promise.all(replicas.map((r) => r.process.stop('SIGTERM', drainMs + 10_000)));
          await proxy.stop('SIGTERM', 5000);
          await redis.stop('SIGTERM', 5000);
          cleanup();
        })();
        return stopping;
      },
      killNow: killAll,
    };
  } catch (err) {
    killAll();
    await Promise.all(started.map((p) => p.waitExit()));
    cleanup();
    throw err;
  }
}

/** /readyz straight on the replica: plain http is allowed there for probes, whatever REQUIRE_TLS says. */
async function waitReplica(replica: ReplicaHandle, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    if (replica.process.exited) throw new Error(`${replica.name} exited during start:\n${replica.process.output.trim()}`);
    try {
      const res = await fetch(`${replica.httpUrl}/readyz`);
      if (res.status === 200) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${replica.name} was not ready on ${replica.httpUrl} within ${timeoutMs} ms (last: ${last}):\n${replica.process.output.trim()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
