import { ConnectMeasurement, measureConnects, membersSeed, samePlans, specsFor, workersFor } from '../lib/measure';
import { fromFirst, rowOf, newOutcome, ScenarioOutcome } from '../lib/report';
import type { TargetId } from '../lib/targets';
import { eachTarget, RunContext } from './context';

/**
 * S3 idle connections: N authenticated clients (ours: a JWT each; the peers take no credentials), each with
 * one subscription (`/P/requests`, as an owner), spread over the generator's worker processes and source
 * addresses 127.0.0.x, then left idle. Every target runs as ONE server process (ours: one replica on Redis),
 * so that the per-connection figure is one process's: RSS after all are subscribed minus RSS before the
 * first connect, divided by N, read from /proc. The heap comes from the same readings: the server process
 * answers the bench's heap probe (a full GC, then `process.memoryUsage()`) just before its RSS is read.
 * Redis is reported on its own row (ours keeps no per-connection state there; Socket.IO's adapter may).
 */
export interface S3Params {
  clients: number;
  /** Connects in flight per worker. */
  concurrency: number;
  /** Clients that connect, subscribe and leave before the measurement (warm code paths, unmeasured). */
  warmupClients: number;
  settleMs: number;
}

export function s3Params(quick: boolean): S3Params {
  return quick
    ? { clients: 40, concurrency: 8, settleMs: 200, warmupClients: 10 }
    : { clients: 10_000, concurrency: 64, settleMs: 2000, warmupClients: 200 };
}

/** The targets, printed next to the figures. */
export const S3_TARGET_KIB: Record<TargetId, string> = { ours: '≤ 8', ws: '≈ 4.5', socketio: '≈ 14' };

const KIB = 1024;

/**
 * Growth of a per-process figure (summed over the processes `include` names) from `before` to `after`, per
 * connection, in KiB; NaN when a reading is missing.
 */
function perConnectionKiB(
  before: Record<string, number> | undefined,
  after: Record<string, number> | undefined,
  connections: number,
  include: (name: string) => boolean,
): number {
  if (!before || !after || connections <= 0) return NaN;
  let delta = 0;
  for (const name of Object.keys(after)) if (include(name)) delta += after[name]! - before[name]!;
  return delta / connections / KIB;
}

/** A per-process figure of a measurement at one of its readings (undefined when not read). */
type Figure = (m: ConnectMeasurement, at: 'before' | 'mid' | 'after') => Record<string, number> | undefined;

const rss: Figure = (m, at) => ({ before: m.rssBeforeBytes, mid: m.rssMidBytes, after: m.rssAfterBytes })[at];

/** `heapUsed` or `external` of the processes that answered the heap probe. */
const heap =
  (field: 'heapUsed' | 'external'): Figure =>
  (m, at) => {
    const readings = { before: m.heapBefore, mid: m.heapMid, after: m.heapAfter }[at];
    return readings && Object.fromEntries(Object.entries(readings).map(([name, r]) => [name, r[field]]));
  };

/** Per connection over all N: what the process held before the first connect is in the baseline. */
function allN(m: ConnectMeasurement, figure: Figure, include = isServer): number {
  return perConnectionKiB(figure(m, 'before'), figure(m, 'after'), m.clients, include);
}

/**
 * Per connection over the second half of N: memory the process held before the first connect (garbage from
 * seeding, free heap pages) is absorbed by the first half and does not hide the cost of a connection here.
 */
function secondHalf(m: ConnectMeasurement, figure: Figure): number {
  return perConnectionKiB(figure(m, 'mid'), figure(m, 'after'), m.clients - m.midpoint, isServer);
}

const isRedis = (name: string) => name === 'redis';
const isServer = (name: string) => !isRedis(name);

export async function runS3(ctx: RunContext, p: S3Params): Promise<ScenarioOutcome> {
  const projectId = 'bench-s3';
  const topic = `/${projectId}/requests`;
  const outcome = newOutcome('S3', 'S3', `idle connections, N = ${p.clients.toLocaleString('en-US')}, one server process`, {
    ...p,
    serverProcesses: 1,
    ours: 'one replica, Redis engine',
  });
  const plans = samePlans('s3-owner', p.clients, topic);
  ctx.log(`S3: ${p.clients} idle subscribed connections per target`);
  await eachTarget(ctx, outcome, async (target) => {
    await target.seed(membersSeed(projectId, plans, 'owner'));
    const m = await measureConnects(target, {
      specs: specsFor(target, plans),
      workers: workersFor(p.clients, ctx.quick),
      concurrency: p.concurrency,
      settleMs: p.settleMs,
      warmupClients: p.warmupClients,
      midpoint: Math.floor(p.clients / 2),
      heap: true,
    });
    if (m.failed > 0) throw new Error(`${m.failed} of ${p.clients} clients failed to connect or subscribe: ${m.errors.join('; ')}`);
    ctx.log(
      `  ${target.id}: ${m.clients} connected in ${(m.connectMs / 1000).toFixed(1)} s; RSS ${allN(m, rss).toFixed(2)} KiB/connection (second half: ${secondHalf(m, rss).toFixed(2)}), heap ${allN(m, heap('heapUsed')).toFixed(2)}`,
    );
    return [m];
  });
  const first = fromFirst<ConnectMeasurement>;
  outcome.rows = [
    rowOf(
      outcome,
      'idle connections held (subscribed)',
      0,
      first((m) => m.clients),
      false,
    ),
    rowOf(
      outcome,
      `server RSS per connection, all N (KiB; target: ours ${S3_TARGET_KIB.ours}, raw ws ${S3_TARGET_KIB.ws}, Socket.IO ${S3_TARGET_KIB.socketio})`,
      2,
      first((m) => allN(m, rss)),
    ),
    rowOf(
      outcome,
      'server RSS per connection, second half of N (KiB)',
      2,
      first((m) => secondHalf(m, rss)),
    ),
    rowOf(
      outcome,
      'server heap per connection, all N (KiB; heapUsed after a full GC)',
      2,
      first((m) => allN(m, heap('heapUsed'))),
    ),
    rowOf(
      outcome,
      'server heap per connection, second half of N (KiB)',
      2,
      first((m) => secondHalf(m, heap('heapUsed'))),
    ),
    rowOf(
      outcome,
      'server external memory per connection, all N (KiB; buffers outside the heap)',
      2,
      first((m) => allN(m, heap('external'))),
    ),
    rowOf(outcome, 'Redis RSS per connection (KiB)', 2, (ms: ConnectMeasurement[]) =>
      'redis' in ms[0]!.rssAfterBytes ? allN(ms[0]!, rss, isRedis) : null,
    ),
    rowOf(
      outcome,
      'server RSS with all connected (MiB)',
      1,
      first((m) => Object.entries(m.rssAfterBytes).reduce((a, [n, b]) => (isRedis(n) ? a : a + b), 0) / KIB / KIB),
    ),
  ];
  return outcome;
}
