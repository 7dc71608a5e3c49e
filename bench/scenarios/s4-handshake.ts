import { ConnectMeasurement, measureConnects, membersSeed, samePlans, specsFor, workersFor } from '../lib/measure';
import { fromFirst, rowOf, newOutcome, ScenarioOutcome } from '../lib/report';
import { eachTarget, RunContext } from './context';

/**
 * S4 handshake rate: N clients connect (ours: WebSocket upgrade with a JWT in `?token=`, verified by the
 * server) and each subscribes once to `/P/requests`, many at a time from every generator worker; a client
 * counts when its subscribe is answered (our snapshot, the raw peer's empty snapshot, the Socket.IO ack).
 * Every target runs as ONE server process (ours: one replica on Redis). Reports connects per second of wall
 * time and per CPU-second of the server processes (Redis included for ours and Socket.IO), from /proc.
 */
export interface S4Params {
  clients: number;
  /** Connects in flight per worker. */
  concurrency: number;
  /** Clients that connect, subscribe and leave before the measurement (warm code paths, unmeasured). */
  warmupClients: number;
}

export function s4Params(quick: boolean): S4Params {
  return quick ? { clients: 40, concurrency: 8, warmupClients: 10 } : { clients: 5000, concurrency: 128, warmupClients: 500 };
}

export const S4_TARGET_PER_CORE = 4000;

export function serverCpuTotalMs(m: ConnectMeasurement): number {
  return Object.values(m.serverCpuMs).reduce((a, b) => a + b, 0);
}

export async function runS4(ctx: RunContext, p: S4Params): Promise<ScenarioOutcome> {
  const projectId = 'bench-s4';
  const topic = `/${projectId}/requests`;
  const outcome = newOutcome('S4', 'S4', `handshake rate, N = ${p.clients.toLocaleString('en-US')}, one server process`, {
    ...p,
    serverProcesses: 1,
    ours: 'one replica, Redis engine',
  });
  const plans = samePlans('s4-owner', p.clients, topic);
  ctx.log(`S4: ${p.clients} connects + subscribe per target, ${p.concurrency} in flight per worker`);
  await eachTarget(ctx, outcome, async (target) => {
    await target.seed(membersSeed(projectId, plans, 'owner'));
    const m = await measureConnects(target, {
      specs: specsFor(target, plans),
      workers: workersFor(p.clients, ctx.quick),
      concurrency: p.concurrency,
      settleMs: 500,
      warmupClients: p.warmupClients,
    });
    if (m.failed > 0) throw new Error(`${m.failed} of ${p.clients} clients failed to connect or subscribe: ${m.errors.join('; ')}`);
    ctx.log(`  ${target.id}: ${m.clients} connected + subscribed in ${(m.connectMs / 1000).toFixed(2)} s`);
    return [m];
  });
  const first = fromFirst<ConnectMeasurement>;
  const perCpuSecond = (m: ConnectMeasurement) => {
    const cpu = serverCpuTotalMs(m);
    return cpu > 0 ? m.clients / (cpu / 1000) : NaN;
  };
  outcome.rows = [
    rowOf(
      outcome,
      'connects + subscribe per second (wall)',
      0,
      first((m) => m.clients / (m.connectMs / 1000)),
    ),
    rowOf(
      outcome,
      `connects + subscribe per server CPU-second (target ≥ ${S4_TARGET_PER_CORE.toLocaleString('en-US')})`,
      0,
      first(perCpuSecond),
    ),
    rowOf(
      outcome,
      'server CPU (µs per connect + subscribe)',
      1,
      first((m) => (serverCpuTotalMs(m) * 1000) / m.clients),
    ),
    rowOf(
      outcome,
      'server CPU (% of one core)',
      0,
      first((m) => (serverCpuTotalMs(m) / m.connectMs) * 100),
    ),
    rowOf(
      outcome,
      'load generator CPU (% of one core)',
      0,
      first((m) => (m.generatorCpuMs / m.connectMs) * 100),
      false,
    ),
  ];
  return outcome;
}
