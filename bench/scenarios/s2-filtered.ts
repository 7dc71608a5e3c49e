import { Envelope, requestEnvelope, requestId } from '../lib/documents';
import { ClientPlan, cpuPerEventMs, generatorCpuPct, Measurement, measureSteady, membersSeed, workersFor } from '../lib/measure';
import { rowOf, newOutcome, ScenarioOutcome } from '../lib/report';
import { integrityRows, latencyRows } from './delivery-rows';
import { eachTarget, RunContext } from './context';

/**
 * S2 role-filtered fan-out: A agents (role `agent`: they see requests they take part in or whose department
 * snapshot lists them) in groups of G; request j belongs to group j mod (A/G) and has one participant from
 * anywhere, so each event reaches about G + 1 agents and each agent sees its own subset. On our service every
 * agent subscribes to `/P/requests` and the access rules pick the recipients; a peer cannot filter, so there
 * (raw ws and Socket.IO alike) each agent subscribes to `/P/requests/<request_id>` for exactly the requests it
 * sees: all deliver the same frames, and the difference in cost is the price of deciding per member.
 */
export interface S2Params {
  agents: number;
  groupSize: number;
  requests: number;
  rate: number;
  durationMs: number;
}

export function s2Params(quick: boolean): S2Params {
  return quick
    ? { agents: 40, groupSize: 4, requests: 20, rate: 10, durationMs: 1500 }
    : { agents: 2000, groupSize: 20, requests: 200, rate: 20, durationMs: 15_000 };
}

export async function runS2(ctx: RunContext, p: S2Params): Promise<ScenarioOutcome> {
  const projectId = 'bench-s2';
  const groups = p.agents / p.groupSize;
  const outcome = newOutcome('S2', 'S2', `role-filtered fan-out, ${p.agents.toLocaleString('en-US')} agents`, { ...p });
  const userOf = (a: number) => `s2-agent-${a}`;
  const groupAgents = (j: number) => Array.from({ length: p.groupSize }, (_, k) => ((j % groups) * p.groupSize + k) % p.agents);
  const participantOf = (j: number) => (j * 37 + 11) % p.agents;
  const visible: number[][] = Array.from({ length: p.agents }, () => []);
  for (let j = 0; j < p.requests; j++) {
    const audience = new Set([...groupAgents(j), participantOf(j)]);
    for (const a of audience) visible[a]!.push(j);
  }
  const plans: ClientPlan[] = visible.map((reqs, a) => ({
    userId: userOf(a),
    topics: [`/${projectId}/requests`],
    peerTopics: reqs.map((j) => `/${projectId}/requests/${requestId(projectId, j)}`),
    keys: reqs,
  }));
  const recipients = visible.reduce((n, v) => n + v.length, 0) / p.requests;
  outcome.params.recipientsPerEvent = Math.round(recipients * 10) / 10;
  ctx.log(`S2 ${p.agents} agents: ${p.rate} events/s for ${p.durationMs / 1000} s, ~${recipients.toFixed(1)} recipients per event`);

  const shape = (j: number, version: number, benchId: number, benchTs: number) => ({
    projectId,
    index: j,
    version,
    participants: [userOf(participantOf(j))],
    agents: groupAgents(j).map(userOf),
    benchId,
    benchTs,
  });

  await eachTarget(ctx, outcome, async (target) => {
    let version = 0;
    await target.seed(membersSeed(projectId, plans, 'agent'));
    const warmup: Envelope[] = [];
    for (let j = 0; j < p.requests; j++) warmup.push(requestEnvelope('request.create', shape(j, ++version, 0, 0)));
    const steady = await measureSteady(target, {
      plans,
      workers: workersFor(p.agents, ctx.quick),
      warmup,
      log: ctx.log,
      name: 'steady',
      drainMs: ctx.quick ? 5000 : 15_000,
      rate: p.rate,
      durationMs: p.durationMs,
      event: (id, ts) => ({
        envelope: requestEnvelope('request.update', shape(id % p.requests, ++version, id, ts)),
        key: id % p.requests,
      }),
    });
    return [steady];
  });

  const m = (f: (x: Measurement) => number) => (ms: Measurement[]) => f(ms[0]!);
  outcome.rows = [
    ...latencyRows(outcome),
    rowOf(outcome, 'server CPU (ms per event)', 3, m(cpuPerEventMs)),
    rowOf(
      outcome,
      'server CPU (µs per delivered frame)',
      1,
      m((x) => (x.serverCpuTotalMs * 1000) / Math.max(1, x.generator.frames)),
    ),
    ...integrityRows(outcome),
    rowOf(outcome, 'load generator CPU (% of one core)', 0, m(generatorCpuPct), false),
  ];
  return outcome;
}
