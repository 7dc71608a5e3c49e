import { memberEnvelope, projectEnvelope } from '../lib/documents';
import { ConnectMeasurement, Measurement, measureConnects, specsFor, workersFor } from '../lib/measure';
import { rowOf, ScenarioOutcome } from '../lib/report';
import type { TargetId } from '../lib/targets';
import { eachTarget, RunContext } from './context';

/**
 * S3 idle connections: N authenticated clients (ours: a JWT each; the peers take no credentials), each with
 * one subscription (`/P/requests`, as an owner), spread over the generator's worker processes and source
 * addresses 127.0.0.x, then left idle. Every target runs as ONE server process (ours: one replica on Redis),
 * so that the per-connection figure is one process's: RSS after all are subscribed minus RSS before the
 * first connect, divided by N, read from /proc. Redis is reported on its own row (ours keeps no
 * per-connection state there; Socket.IO's adapter may).
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

/** RSS growth from before the first connect to after the last, per connection. */
function perConnectionKiB(m: ConnectMeasurement, include: (name: string) => boolean): number {
  let delta = 0;
  for (const name of Object.keys(m.rssAfterBytes)) if (include(name)) delta += m.rssAfterBytes[name]! - m.rssBeforeBytes[name]!;
  return m.clients > 0 ? delta / m.clients / KIB : NaN;
}

/**
 * RSS growth over the second half of the connections, per connection: memory the process held before the
 * first connect (garbage from seeding, free heap pages) is absorbed by the first half and does not hide
 * the cost of a connection here.
 */
function marginalKiB(m: ConnectMeasurement, include: (name: string) => boolean): number {
  if (!m.rssMidBytes || m.clients <= m.midpoint) return NaN;
  let delta = 0;
  for (const name of Object.keys(m.rssAfterBytes)) if (include(name)) delta += m.rssAfterBytes[name]! - m.rssMidBytes[name]!;
  return delta / (m.clients - m.midpoint) / KIB;
}

const isRedis = (name: string) => name === 'redis';

export async function runS3(ctx: RunContext, p: S3Params): Promise<ScenarioOutcome> {
  const projectId = 'bench-s3';
  const topic = `/${projectId}/requests`;
  const outcome: ScenarioOutcome = {
    id: 'S3',
    label: 'S3',
    title: `idle connections, N = ${p.clients.toLocaleString('en-US')}, one server process`,
    status: 'measured',
    params: { ...p, serverProcesses: 1, ours: 'one replica, Redis engine' },
    rows: [],
    targets: {},
    notes: [],
  };
  const plans = Array.from({ length: p.clients }, (_, i) => ({ userId: `s3-owner-${i}`, topics: [topic], peerTopics: [topic] }));
  ctx.log(`S3: ${p.clients} idle subscribed connections per target`);
  await eachTarget(ctx, outcome, async (target) => {
    await target.seed([projectEnvelope(projectId), ...plans.map((c) => memberEnvelope(projectId, c.userId, 'owner'))]);
    const m = await measureConnects(target, {
      specs: specsFor(target, plans),
      workers: workersFor(p.clients, ctx.quick),
      concurrency: p.concurrency,
      settleMs: p.settleMs,
      warmupClients: p.warmupClients,
      midpoint: Math.floor(p.clients / 2),
    });
    if (m.failed > 0) throw new Error(`${m.failed} of ${p.clients} clients failed to connect or subscribe: ${m.errors.join('; ')}`);
    ctx.log(
      `  ${target.id}: ${m.clients} connected in ${(m.connectMs / 1000).toFixed(1)} s; ${perConnectionKiB(m, (n) => !isRedis(n)).toFixed(2)} KiB/connection (second half: ${marginalKiB(m, (n) => !isRedis(n)).toFixed(2)})`,
    );
    // eachTarget is typed for the delivery scenarios' Measurement; it stores the result as is (unknown in the JSON).
    return [m] as unknown as Measurement[];
  });
  const first = (f: (m: ConnectMeasurement) => number) => (ms: ConnectMeasurement[]) => f(ms[0]!);
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
      first((m) => perConnectionKiB(m, (n) => !isRedis(n))),
    ),
    rowOf(
      outcome,
      'server RSS per connection, second half of N (KiB)',
      2,
      first((m) => marginalKiB(m, (n) => !isRedis(n))),
    ),
    rowOf(outcome, 'Redis RSS per connection (KiB)', 2, (ms: ConnectMeasurement[]) =>
      'redis' in ms[0]!.rssAfterBytes ? perConnectionKiB(ms[0]!, isRedis) : null,
    ),
    rowOf(
      outcome,
      'server RSS with all connected (MiB)',
      1,
      first((m) => Object.entries(m.rssAfterBytes).reduce((a, [n, b]) => (isRedis(n) ? a : a + b), 0) / KIB / KIB),
    ),
  ];
  outcome.notes.push(
    'heap per connection: not measured yet (the server processes expose no heap figure to the runner; RSS from /proc only)',
  );
  return outcome;
}
