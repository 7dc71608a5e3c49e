import { createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import type { Envelope } from './documents';
import { IngestClient } from './ingest-client';
import { assertLoopback, forkReady, heapProbeEnv, RedisProcess, ServiceReplica } from './processes';
import type { ClientKind } from './worker-protocol';

/** What a scenario measures side by side: our service and its two peers. */
export type TargetId = 'ours' | 'ws' | 'socketio';
export const TARGET_IDS: TargetId[] = ['ours', 'ws', 'socketio'];
export const TARGET_LABELS: Record<TargetId, string> = {
  ours: 'ours',
  ws: 'raw ws',
  socketio: 'Socket.IO',
};

export interface ServerProcess {
  name: string;
  pid: number;
  /** A Node process started with the heap probe (`readHeap()` may ask it); false for redis-server. */
  heapProbe: boolean;
}

export interface Target {
  id: TargetId;
  kind: ClientKind;
  /** One entry per server process; clients and ingest spread over them. */
  processes: number;
  ingest: IngestClient[];
  /** Whether it applies access rules (ours) or routes by topic only (peers: a client subscribes to what it sees). */
  filtersByAccess: boolean;
  /** URL for a client of `userId` on server process `group`. */
  clientUrl(group: number, userId: string): string;
  /** Processes whose CPU and memory count as the server's (Redis included where the target uses it). */
  serverProcesses(): ServerProcess[];
  /** The Redis the target runs on (ours, Socket.IO), null when it uses none. */
  redis: RedisProcess | null;
  /** The module that provides Socket.IO clients to the load-generator workers. */
  socketIoModule?: string;
  /** Loads documents the target needs before clients subscribe (ours: project and members). */
  seed(envelopes: Envelope[]): Promise<void>;
  stop(): Promise<void>;
}

const INGEST_BATCH = 500;

/**
 * Limits every check of which still runs (one Redis script per handshake, a token bucket per frame, the ingest
 * throttle) but none of which a scenario reaches: the bench measures their cost, not their refusals (S4 and S6
 * connect thousands of clients from 200 addresses within seconds; S5 posts ~160 batches per second on one token).
 */
const BENCH_LIMITS = {
  RATE_CONN_PER_USER_PER_MIN: '1000000',
  RATE_CONN_PER_IP_PER_MIN: '1000000',
  MAX_CONN_PER_USER: '1000000',
  MAX_CONN_PER_PROJECT: '1000000',
  RATE_FRAMES_PER_S: '1000000',
  RATE_FRAMES_BURST: '1000000',
  INGEST_RATE_PER_S: '1000000',
};

/**
 * Our service: two replicas (compiled dist/main.js; `replicas` to change) on one redis-server, emptied first.
 * Every server process a starter here starts carries the heap probe (`heapProbeEnv()`; idle until asked).
 */
export async function startOurs(
  redis: RedisProcess,
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
  replicas = 2,
): Promise<Target> {
  const secret = randomBytes(24).toString('hex');
  const ingestToken = randomBytes(16).toString('hex');
  const replicaEnv = {
    REDIS_URL: redis.url,
    GLOBAL_SECRET: secret,
    INGEST_TOKEN: ingestToken,
    ...BENCH_LIMITS,
    ...heapProbeEnv(),
    ...env,
  };
  await redis.flushAll();
  const started = await Promise.all(Array.from({ length: replicas }, () => ServiceReplica.start(replicaEnv, nodeArgs)));
  // A prepared key: jsonwebtoken given a string secret first tries to parse it as a PEM key on every call.
  const key: KeyObject = createSecretKey(Buffer.from(secret));
  const ingest = started.map((r) => new IngestClient(`${r.httpUrl}/v1/events`, ingestToken));
  return {
    id: 'ours',
    kind: 'ws',
    processes: started.length,
    ingest,
    filtersByAccess: true,
    clientUrl: (group, userId) => `${started[group]!.wsUrl}?token=${jwt.sign({ _id: userId }, key, { algorithm: 'HS256' })}`,
    serverProcesses: () => [
      ...started.map((r, i) => ({ name: `replica-${i}`, pid: r.pid, heapProbe: true })),
      { name: 'redis', pid: redis.pid, heapProbe: false },
    ],
    redis,
    seed: async (envelopes) => {
      for (let i = 0; i < envelopes.length; i += INGEST_BATCH)
        await ingest[0]!.postOk(JSON.stringify(envelopes.slice(i, i + INGEST_BATCH)));
    },
    stop: async () => {
      for (const c of ingest) c.close();
      await Promise.all(started.map((r) => r.stop()));
    },
  };
}

/** The practical limit: one process of bench/peers/raw-ws-peer. */
export async function startRawWs(): Promise<Target> {
  const peer = await forkReady<{ type: 'ready'; port: number }>(
    join(__dirname, '..', 'peers', 'raw-ws-peer.js'),
    ['--port', '0'],
    heapProbeEnv(),
  );
  const base = `127.0.0.1:${peer.ready.port}`;
  const ingest = [new IngestClient(`http://${base}/v1/events`)];
  return {
    id: 'ws',
    kind: 'ws',
    processes: 1,
    ingest,
    filtersByAccess: false,
    clientUrl: () => `ws://${base}/`,
    serverProcesses: () => [{ name: 'raw-ws', pid: peer.proc.pid!, heapProbe: true }],
    redis: null,
    seed: () => Promise.resolve(),
    stop: async () => {
      ingest[0]!.close();
      await peer.stop();
    },
  };
}

interface SocketIoPeerModule {
  startSocketIoPeer(opts: { redisUrl: string; processes?: number }): Promise<{
    urls: string[];
    pids?: number[];
    ingestUrl(i: number): string;
    stop(): Promise<void>;
  }>;
}

/** Where the compiled Socket.IO peer lives (bench/peers/socketio, written separately); null when absent. */
export function socketIoPeerModule(): string | null {
  const path = join(__dirname, '..', 'peers', 'socketio', 'socketio-peer.js');
  return existsSync(path) ? path : null;
}

/**
 * Runs `start` with `vars` added to this process's environment, restored afterwards: the Socket.IO peer
 * spawns its processes with the runner's environment and takes no other, so this is how the heap probe
 * reaches them (nothing else is started meanwhile: the runner starts one target at a time).
 */
async function withEnv<T>(vars: Record<string, string>, start: () => Promise<T>): Promise<T> {
  const saved = Object.keys(vars).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, vars);
  try {
    return await start();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Socket.IO with @socket.io/redis-adapter on two processes (`processes` to change; what a Node team would pick instead). */
export async function startSocketIo(redis: RedisProcess, processes = 2): Promise<Target> {
  const modulePath = socketIoPeerModule();
  if (!modulePath) throw new Error('peer not available (bench/peers/socketio/socketio-peer.ts is missing)');
  const mod = (await import(modulePath)) as SocketIoPeerModule;
  if (typeof mod.startSocketIoPeer !== 'function') throw new Error('peer not available (no startSocketIoPeer export)');
  await redis.flushAll();
  const peer = await withEnv(heapProbeEnv(), () => mod.startSocketIoPeer({ redisUrl: redis.url, processes }));
  for (const u of peer.urls) assertLoopback(u);
  const ingest = peer.urls.map((_, i) => new IngestClient(peer.ingestUrl(i)));
  const pids = peer.pids ?? [];
  return {
    id: 'socketio',
    kind: 'socketio',
    processes: peer.urls.length,
    ingest,
    filtersByAccess: false,
    clientUrl: (group) => peer.urls[group]!,
    serverProcesses: () => [
      ...pids.map((pid, i) => ({ name: `socketio-${i}`, pid, heapProbe: true })),
      { name: 'redis', pid: redis.pid, heapProbe: false },
    ],
    redis,
    socketIoModule: modulePath,
    seed: () => Promise.resolve(),
    stop: async () => {
      for (const c of ingest) c.close();
      await peer.stop();
    },
  };
}
