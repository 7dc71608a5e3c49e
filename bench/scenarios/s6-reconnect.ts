import { requestEnvelope } from '../lib/documents';
import { measureStorm, membersSeed, samePlans, specsFor, StormMeasurement, workersFor } from '../lib/measure';
import { fromFirst, rowOf, newOutcome, ScenarioOutcome } from '../lib/report';
import type { Backoff } from '../lib/worker-protocol';
import { eachTarget, RunContext } from './context';

/**
 * S6 reconnect storm: N clients (owner role, one project) subscribed to `/P/requests`, whose project holds
 * a few open Tiledesk-sized requests so that our snapshots are real ones. At one instant every client drops
 * its connection (the client side closes it, as when a replica or a proxy in front restarts) and at once
 * connects and subscribes again, retrying with jittered exponential back-off when an attempt fails. Every
 * target runs as designed (ours: two replicas on Redis; Socket.IO: two processes on Redis; raw ws: one
 * process) and the clients reconnect to the process they were on. Measured: storm start to the last
 * subscribe answer, per-client times, retries, the kernel's listen-queue overflows, peak RSS of every server
 * process (sampled from /proc), server CPU, the Redis commands executed per subscribe over the storm (INFO
 * commandstats, which counts a script's commands too) and, from the first subscribes, the commands the
 * servers send per subscribe (MONITOR): the round trips.
 */
export interface S6Params {
  clients: number;
  /** Open requests in the project: what our snapshot carries (the peers keep no documents). */
  requests: number;
  /** Initial connects in flight per worker (before the storm). */
  concurrency: number;
  settleMs: number;
  /** Reconnects in flight per worker during the storm; 0: all at once. */
  stormConcurrency: number;
  attemptTimeoutMs: number;
  backoff: Backoff;
  giveUpMs: number;
  sampleMs: number;
  tailMs: number;
}

export function s6Params(quick: boolean): S6Params {
  const common = { requests: 20, stormConcurrency: 0, backoff: { firstMs: 250, maxMs: 4000 }, sampleMs: 100 };
  return quick
    ? { ...common, clients: 40, concurrency: 8, settleMs: 200, attemptTimeoutMs: 5000, giveUpMs: 15_000, tailMs: 200 }
    : { ...common, clients: 10_000, concurrency: 64, settleMs: 2000, attemptTimeoutMs: 10_000, giveUpMs: 60_000, tailMs: 1000 };
}

/** The target: every client back within this many seconds. */
export const S6_TARGET_ALL_BACK_S = 10;

const MIB = 1024 * 1024;
const isRedis = (name: string) => name === 'redis';

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** Redis commands executed over the storm (scripts' commands included), per reconnected client; null without Redis. */
function commandsPerSubscribe(m: StormMeasurement): number | null {
  return m.redisCommands ? sum(m.redisCommands) / m.storm.reconnected : null;
}

/** Redis commands the servers sent (scripts' commands left out) per first subscribe: the round trips; null without Redis. */
function roundTripsPerSubscribe(m: StormMeasurement): number | null {
  const r = m.redisAtFirstSubscribe;
  return r ? sum(r.sent) / r.subscribes : null;
}

/** `12.00 hget, 1.00 evalsha`: the `limit` largest counts, per `per`. */
function perCommand(counts: Record<string, number>, per: number, limit = 5): string {
  const top = Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([cmd, n]) => `${(n / per).toFixed(2)} ${cmd}`);
  return top.length > 0 ? top.join(', ') : 'none';
}

/** The largest peak RSS among the processes `include` names (MiB). */
function peakMiB(m: StormMeasurement, include: (name: string) => boolean): number | null {
  const peaks = Object.entries(m.peakRssBytes).filter(([name]) => include(name));
  return peaks.length > 0 ? Math.max(...peaks.map(([, b]) => b)) / MIB : null;
}

/** One line for the notes: each process's peak RSS, the commands behind the Redis figures, the listen drops. */
function describe(label: string, m: StormMeasurement): string {
  const peaks = Object.entries(m.peakRssBytes).map(([name, b]) => `${name} ${(b / MIB).toFixed(1)}`);
  let line = `${label}: peak RSS (MiB) ${peaks.join(', ')}`;
  if (m.redisCommands) line += `; Redis commands executed per subscribe (storm): ${perCommand(m.redisCommands, m.storm.reconnected)}`;
  const first = m.redisAtFirstSubscribe;
  if (first) {
    line += `; per first subscribe, sent by the servers: ${perCommand(first.sent, first.subscribes)}`;
    line += `, run by scripts: ${perCommand(first.scripted, first.subscribes)}`;
  }
  if (m.listenQueue) line += `; listen queue over the storm: ${m.listenQueue.overflows} overflows, ${m.listenQueue.drops} drops`;
  return line;
}

export async function runS6(ctx: RunContext, p: S6Params): Promise<ScenarioOutcome> {
  const projectId = 'bench-s6';
  const topic = `/${projectId}/requests`;
  const outcome = newOutcome(
    'S6',
    'S6',
    `reconnect storm, N = ${p.clients.toLocaleString('en-US')} (every client drops and resubscribes at once)`,
    { ...p, stormConcurrency: p.stormConcurrency || 'all at once' },
  );
  const plans = samePlans('s6-owner', p.clients, topic);
  ctx.log(`S6: ${p.clients} subscribed clients per target drop and reconnect at once`);
  await eachTarget(ctx, outcome, async (target) => {
    await target.seed([
      ...membersSeed(projectId, plans, 'owner'),
      ...Array.from({ length: p.requests }, (_, index) =>
        requestEnvelope('request.create', { projectId, index, version: 1, benchId: 0, benchTs: 0 }),
      ),
    ]);
    const m = await measureStorm(target, {
      specs: specsFor(target, plans),
      workers: workersFor(p.clients, ctx.quick),
      concurrency: p.concurrency,
      settleMs: p.settleMs,
      storm: { concurrency: p.stormConcurrency, timeoutMs: p.attemptTimeoutMs, backoff: p.backoff, giveUpMs: p.giveUpMs },
      sampleMs: p.sampleMs,
      tailMs: p.tailMs,
    });
    const s = m.storm;
    if (s.failed > 0)
      throw new Error(`${s.failed} of ${m.clients} clients were not back after ${p.giveUpMs / 1000} s: ${s.errors.join('; ')}`);
    ctx.log(`  ${target.id}: ${s.reconnected} back in ${(s.allBackMs / 1000).toFixed(2)} s, ${s.retries} retries`);
    outcome.notes.push(describe(target.id, m));
    return [m];
  });
  const first = fromFirst<StormMeasurement>;
  outcome.rows = [
    rowOf(
      outcome,
      'clients back (subscribed again)',
      0,
      first((m) => m.storm.reconnected),
      false,
    ),
    rowOf(
      outcome,
      `time until all have their snapshot (s; target ≤ ${S6_TARGET_ALL_BACK_S})`,
      2,
      first((m) => m.storm.allBackMs / 1000),
    ),
    rowOf(
      outcome,
      'time to snapshot per client p50 (ms)',
      0,
      first((m) => m.storm.timeToSnapshot.p50),
    ),
    rowOf(
      outcome,
      'time to snapshot per client p99 (ms)',
      0,
      first((m) => m.storm.timeToSnapshot.p99),
    ),
    rowOf(
      outcome,
      'connect retries (back-off after a failed attempt)',
      0,
      first((m) => m.storm.retries),
      false,
    ),
    rowOf(
      outcome,
      'subscribe answer (bytes per client; Socket.IO acks are not seen)',
      0,
      (ms: StormMeasurement[], t) => (t === 'socketio' ? null : ms[0]!.storm.answerBytes / ms[0]!.storm.reconnected),
      false,
    ),
    rowOf(
      outcome,
      'kernel listen-queue overflows in the storm (dropped handshakes, whole machine)',
      0,
      first((m) => m.listenQueue?.overflows ?? null),
      false,
    ),
    // No ratios: the peers' subscribes use no Redis (Socket.IO's rooms are per process), so ours ÷ peer says nothing.
    rowOf(outcome, 'Redis round trips per subscribe (commands sent by the server)', 2, first(roundTripsPerSubscribe), false),
    rowOf(outcome, 'Redis commands executed per subscribe (those run by scripts included)', 2, first(commandsPerSubscribe), false),
    rowOf(
      outcome,
      'peak RSS, largest server process (MiB; operations.md sets no budget)',
      1,
      first((m) => peakMiB(m, (n) => !isRedis(n))),
    ),
    rowOf(
      outcome,
      'peak Redis RSS (MiB)',
      1,
      first((m) => peakMiB(m, isRedis)),
      false,
    ),
    rowOf(
      outcome,
      'server CPU (µs per reconnect + subscribe)',
      0,
      first((m) => (Object.values(m.serverCpuMs).reduce((a, b) => a + b, 0) * 1000) / m.storm.reconnected),
    ),
    rowOf(
      outcome,
      'load generator CPU (% of one core)',
      0,
      first((m) => (m.storm.cpuMs / m.storm.allBackMs) * 100),
      false,
    ),
  ];
  return outcome;
}
