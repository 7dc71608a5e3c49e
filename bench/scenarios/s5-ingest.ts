import Redis from 'ioredis';
import { monoNow } from '../lib/clock';
import { Envelope, memberEnvelope, projectEnvelope, requestEnvelope } from '../lib/documents';
import { LatencyHistogram } from '../lib/histogram';
import {
  batchDriver,
  ClientPlan,
  cpuPerEventMs,
  DriveResult,
  generatorCpuPct,
  Measurement,
  measure,
  Phase,
  specsFor,
  workersFor,
} from '../lib/measure';
import { rowOf, newOutcome, ScenarioOutcome } from '../lib/report';
import { eachTarget, RunContext } from './context';

/**
 * S5 ingest: how many events per second a target applies and publishes, with S subscribers attached. The
 * subscribers are S tenants (one project each, its owner subscribed to `/P/requests`), and every event is a
 * new request in one of them, so each event costs one apply, one publish and one frame, and no event can be
 * stale (requests never repeat). Measured through HTTP batches (closed loop: `concurrency` batches in flight)
 * and, for our service, through the Redis stream (entries added with pipelined XADD, applied by the replicas'
 * consumer group). The figure counts an event when its frame has reached its subscriber.
 */
export interface S5Params {
  subscribers: number;
  batch: number;
  concurrencyPerProcess: number;
  httpDurationMs: number;
  /** Stream events: about this many seconds of what HTTP sustained, within [min, max]. */
  streamSeconds: number;
  streamMin: number;
  streamMax: number;
}

export function s5Params(quick: boolean): S5Params {
  return quick
    ? { subscribers: 20, batch: 10, concurrencyPerProcess: 2, httpDurationMs: 1000, streamSeconds: 1, streamMin: 100, streamMax: 300 }
    : {
        subscribers: 1000,
        batch: 50,
        concurrencyPerProcess: 2,
        httpDurationMs: 8000,
        streamSeconds: 6,
        streamMin: 1000,
        streamMax: 20_000,
      };
}

const STREAM_CHUNK = 500;

export async function runS5(ctx: RunContext, p: S5Params): Promise<ScenarioOutcome> {
  const outcome = newOutcome('S5', 'S5', `ingest, ${p.subscribers.toLocaleString('en-US')} subscribers`, { ...p });
  const projectOf = (j: number) => `bench-s5-${j}`;
  const plans: ClientPlan[] = Array.from({ length: p.subscribers }, (_, j) => ({
    userId: `s5-owner-${j}`,
    topics: [`/${projectOf(j)}/requests`],
    peerTopics: [`/${projectOf(j)}/requests`],
    keys: [j],
  }));
  ctx.log(`S5 ${p.subscribers} subscribers: HTTP batches of ${p.batch} for ${p.httpDurationMs / 1000} s, then the Redis stream`);
  // Request indexes never repeat across phases: every event creates a new request.
  let nextIndex = 0;
  const newRequest = (id: number, ts: number, benchId = id) => {
    const j = id % p.subscribers;
    return {
      envelope: requestEnvelope('request.create', { projectId: projectOf(j), index: nextIndex++, version: 1, benchId, benchTs: ts }),
      key: j,
    };
  };

  await eachTarget(ctx, outcome, async (target) => {
    const seed: Envelope[] = [];
    for (const [j, c] of plans.entries()) seed.push(projectEnvelope(projectOf(j)), memberEnvelope(projectOf(j), c.userId, 'owner'));
    await target.seed(seed);
    const warmup = plans.map((_, j) => newRequest(j, 0, 0).envelope);
    const phases: Phase[] = [
      {
        name: 'http',
        ingestTargets: 0,
        drainMs: ctx.quick ? 10_000 : 30_000,
        drive: batchDriver(target, {
          batch: p.batch,
          concurrency: p.concurrencyPerProcess * target.ingest.length,
          durationMs: p.httpDurationMs,
          event: (id, ts) => newRequest(id, ts),
        }),
      },
    ];
    if (target.id === 'ours') {
      let httpRate = 0;
      phases.push({
        name: 'stream',
        ingestTargets: 0,
        drainMs: ctx.quick ? 15_000 : 60_000,
        drive: () => {
          const count = Math.round(Math.min(p.streamMax, Math.max(p.streamMin, httpRate * p.streamSeconds)));
          return streamDrive(ctx.redis.url, count, (id, ts) => newRequest(id, ts));
        },
      });
      // The stream phase sizes itself on what HTTP sustained.
      const http = phases[0]!;
      const drive = http.drive;
      http.drive = async () => {
        const r = await drive();
        httpRate = r.events.length / ((r.lastAckAt - r.firstSendAt) / 1000);
        return r;
      };
    }
    return measure(target, { specs: specsFor(target, plans), workers: workersFor(p.subscribers, ctx.quick), warmup, log: ctx.log, phases });
  });

  const phase = (name: string, f: (x: Measurement) => number) => (ms: Measurement[]) => {
    const x = ms.find((m) => m.phase === name);
    return x ? f(x) : null;
  };
  outcome.rows = [
    rowOf(
      outcome,
      'HTTP: events/s applied + delivered',
      0,
      phase('http', (x) => x.eventsPerSecDelivered),
    ),
    rowOf(
      outcome,
      'HTTP: events/s acknowledged (202)',
      0,
      phase('http', (x) => x.eventsPerSecAcked),
    ),
    rowOf(
      outcome,
      'HTTP: latency p99 (ms, batch sent → frame)',
      1,
      phase('http', (x) => x.generator.latency.p99),
    ),
    rowOf(outcome, 'HTTP: server CPU (ms per event)', 3, phase('http', cpuPerEventMs)),
    rowOf(
      outcome,
      'stream: events/s applied + delivered',
      0,
      phase('stream', (x) => x.eventsPerSecDelivered),
    ),
    rowOf(outcome, 'stream: server CPU (ms per event)', 3, phase('stream', cpuPerEventMs)),
    rowOf(outcome, 'lost frames', 0, (ms: Measurement[]) => ms.reduce((n, x) => n + x.generator.lost, 0), false),
    rowOf(outcome, 'load generator CPU (% of one core)', 0, phase('http', generatorCpuPct), false),
  ];
  return outcome;
}

/** Adds `count` events to `<prefix>ingest` (pipelined XADD, 500 per round trip), stamped at their chunk's send. */
async function streamDrive(
  redisUrl: string,
  count: number,
  event: (id: number, ts: number) => { envelope: Envelope; key: number },
): Promise<DriveResult> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const rtt = new LatencyHistogram();
  const events: Array<[number, number]> = [];
  let errors = 0;
  let errorSample: string | undefined;
  const start = monoNow();
  let lastAckAt = start;
  try {
    for (let first = 1; first <= count; first += STREAM_CHUNK) {
      const ts = monoNow();
      const pipeline = redis.pipeline();
      for (let id = first; id < Math.min(count + 1, first + STREAM_CHUNK); id++) {
        const { envelope, key } = event(id, ts);
        events.push([id, key]);
        pipeline.xadd('rt:ingest', '*', 'event', JSON.stringify(envelope));
      }
      const replies = (await pipeline.exec()) ?? [];
      for (const [err] of replies) {
        if (err) {
          errors++;
          errorSample ??= err.message;
        }
      }
      lastAckAt = monoNow();
      rtt.recordMs(lastAckAt - ts);
    }
  } finally {
    redis.disconnect();
  }
  return { events, firstSendAt: start, lastSendAt: lastAckAt, lastAckAt, ingestRtt: rtt.summary(), ingestErrors: errors, errorSample };
}
