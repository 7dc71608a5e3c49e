import { Envelope, requestEnvelope } from '../lib/documents';
import {
  cpuPerEventMs,
  generatorCpuPct,
  Measurement,
  measureSteady,
  membersSeed,
  samePlans,
  serverCpuPct,
  workersFor,
} from '../lib/measure';
import { rowOf, newOutcome, ScenarioOutcome } from '../lib/report';
import { integrityRows, latencyRows } from './delivery-rows';
import { eachTarget, RunContext } from './context';

/**
 * S1 fan-out: one project, N owner-role subscribers of `/P/requests`, request updates (~700-byte documents)
 * ingested at a steady rate, alternately on each server process. Every event must reach every subscriber.
 */
export interface S1Params {
  subscribers: number;
  rate: number;
  durationMs: number;
  requests: number;
}

export function s1Params(subscribers: number, quick: boolean): S1Params {
  if (quick) return { subscribers, rate: 10, durationMs: 1500, requests: 3 };
  return subscribers >= 5000
    ? { subscribers, rate: 2, durationMs: 25_000, requests: 4 }
    : { subscribers, rate: 10, durationMs: 20_000, requests: 10 };
}

export async function runS1(ctx: RunContext, p: S1Params): Promise<ScenarioOutcome> {
  const projectId = `bench-s1-${p.subscribers}`;
  const topic = `/${projectId}/requests`;
  const outcome = newOutcome('S1', `S1 N=${p.subscribers}`, `fan-out, N = ${p.subscribers.toLocaleString('en-US')}`, { ...p });
  const plans = samePlans('s1-owner', p.subscribers, topic);
  ctx.log(`S1 N=${p.subscribers}: ${p.rate} events/s for ${p.durationMs / 1000} s`);

  await eachTarget(ctx, outcome, async (target) => {
    let version = 0;
    await target.seed(membersSeed(projectId, plans, 'owner'));
    const warmup: Envelope[] = [];
    for (let r = 0; r < p.requests; r++)
      warmup.push(requestEnvelope('request.create', { projectId, index: r, version: ++version, benchId: 0, benchTs: 0 }));
    for (let r = 0; r < Math.min(2, p.requests); r++)
      warmup.push(requestEnvelope('request.update', { projectId, index: r, version: ++version, benchId: 0, benchTs: 0 }));
    const steady = await measureSteady(target, {
      plans,
      workers: workersFor(p.subscribers, ctx.quick),
      warmup,
      log: ctx.log,
      name: 'steady',
      drainMs: ctx.quick ? 5000 : 15_000,
      rate: p.rate,
      durationMs: p.durationMs,
      event: (id, ts) => ({
        envelope: requestEnvelope('request.update', { projectId, index: id % p.requests, version: ++version, benchId: id, benchTs: ts }),
        key: 0,
      }),
    });
    return [steady];
  });

  const m = (f: (x: Measurement) => number) => (ms: Measurement[]) => f(ms[0]!);
  outcome.rows = [
    ...latencyRows(outcome),
    rowOf(
      outcome,
      'ingest → last subscriber p99 (ms)',
      2,
      m((x) => x.generator.lastReceiver.p99),
    ),
    rowOf(outcome, 'cross − same replica p99 (ms)', 2, (ms: Measurement[], t) =>
      t === 'ws' ? null : ms[0]!.generator.crossReplica.p99 - ms[0]!.generator.sameReplica.p99,
    ),
    rowOf(
      outcome,
      'delivered frames/s',
      0,
      m((x) => x.framesPerSec),
    ),
    ...integrityRows(outcome),
    rowOf(outcome, 'server CPU (ms per event)', 2, m(cpuPerEventMs)),
    rowOf(outcome, 'server CPU (% of one core)', 0, m(serverCpuPct)),
    rowOf(outcome, 'load generator CPU (% of one core)', 0, m(generatorCpuPct), false),
  ];
  return outcome;
}
