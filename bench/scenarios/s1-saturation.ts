import { sleep } from '../lib/clock';
import { Envelope, requestEnvelope } from '../lib/documents';
import {
  generatorCpuPct,
  Measurement,
  MeasureSession,
  measureSteady,
  membersSeed,
  samePlans,
  serverCpuPct,
  specsFor,
  steadyDriver,
  workersFor,
  WindowHooks,
} from '../lib/measure';
import { Cell, rowOf, newOutcome, ScenarioOutcome } from '../lib/report';
import { SyscallCounts, SyscallTrace } from '../lib/syscall-trace';
import type { Target, TargetId } from '../lib/targets';
import { eachTarget, RunContext } from './context';

/**
 * S1 capacity: the same fan-out as S1 (one project, N owner-role subscribers of `/P/requests`, ~700-byte
 * request updates posted alternately to each server process), offered at rising rates until the target no
 * longer keeps up. A step is *sustained* when every frame arrived (nothing lost after a short drain), no
 * ingest call failed, frames arrived at ≥ 95 % of the offered rate, and the per-frame p99 stayed within the
 * bound; a step that is not is tried once more, and the scenario reports the highest sustained step. This is the
 * figure the issue's "delivered frames per second" ratios are about: at S1's fixed low rates every target delivers
 * the same. Three variants: `S1max` (N = 1 000, every target as designed), `S1max1` (N = 1 000, every target as
 * one server process: the runner hands it one-process starters) and `S1max10k` (N = 10 000, clients kept across
 * steps).
 */
export type S1SaturationVariant = 'S1max' | 'S1max1' | 'S1max10k';

export interface S1SaturationParams {
  variant: S1SaturationVariant;
  subscribers: number;
  /** Offered events per second, tried in this order; the search stops at the first step not sustained. */
  rates: number[];
  stepMs: number;
  /** How long a step may take to deliver its last frames after the last post before frames count as lost. */
  drainMs: number;
  p99BoundMs: number;
  /**
   * Connect the clients once and run every step on them (N = 10 000: fresh clients per step would be 10 000
   * handshakes a step). A step starts on the kept clients only when the one before delivered every frame to every
   * client and no frame arrived for `settleQuietMs` since; otherwise it gets fresh clients.
   */
  reuseClients: boolean;
  settleQuietMs: number;
  /** `--strace RATE`: no search; one step at RATE per target with strace attached to its server processes. */
  straceRate?: number;
}

const LADDER_1000 = [20, 25, 32, 40, 50, 63, 80, 100, 125, 160, 200, 250];
/** ×1.25 from 2 events/s (S1's rate at N = 10 000: 20 000 frames/s) to 25 (250 000 frames/s). */
const LADDER_10000 = [2, 2.5, 3.2, 4, 5, 6.3, 8, 10, 12.5, 16, 20, 25];

export function s1SaturationParams(variant: S1SaturationVariant, quick: boolean, straceRate?: number): S1SaturationParams {
  const base = { variant, straceRate, settleQuietMs: 300 };
  if (variant === 'S1max10k') {
    if (quick) return { ...base, subscribers: 40, rates: [5, 10], stepMs: 1000, drainMs: 3000, p99BoundMs: 500, reuseClients: true };
    return { ...base, subscribers: 10_000, rates: LADDER_10000, stepMs: 4000, drainMs: 5000, p99BoundMs: 500, reuseClients: true };
  }
  if (quick) return { ...base, subscribers: 40, rates: [20, 40], stepMs: 1000, drainMs: 3000, p99BoundMs: 100, reuseClients: false };
  return { ...base, subscribers: 1000, rates: LADDER_1000, stepMs: 3000, drainMs: 5000, p99BoundMs: 100, reuseClients: false };
}

/** One step of the search. */
export interface SaturationStep {
  rate: number;
  sustained: boolean;
  /** Why not, when it was not. */
  reason?: string;
  /** Whether the step ran on clients connected for it (always, unless `reuseClients`). */
  freshClients: boolean;
  /** Frames delivered / server CPU seconds over the step's window (Redis included where the target uses it). */
  framesPerServerCpuS: number;
  /** Per event the latency of its last receiver, p99 over the step's events. */
  lastSubscriberP99Ms: number;
  /** With `--strace`: system calls per server process over the step's window. */
  syscalls?: Record<string, SyscallCounts>;
  measurement: Measurement;
}

export interface SaturationResult {
  steps: SaturationStep[];
  /** The highest sustained step, or null when even the first was not. */
  best: SaturationStep | null;
}

function judge(rate: number, m: Measurement, p: S1SaturationParams, freshClients: boolean): SaturationStep {
  const g = m.generator;
  const offeredFramesPerSec = rate * p.subscribers;
  let reason: string | undefined;
  if (g.lost > 0) reason = `${g.lost} frames not delivered within ${p.drainMs} ms`;
  else if (m.ingestErrors > 0) reason = `${m.ingestErrors} ingest errors (${m.errorSample ?? ''})`;
  else if (g.duplicates + g.unexpected > 0) reason = `${g.duplicates + g.unexpected} duplicate or unexpected frames`;
  else if (g.latency.p99 > p.p99BoundMs) reason = `p99 ${g.latency.p99.toFixed(1)} ms > ${p.p99BoundMs} ms`;
  else if (m.framesPerSec < 0.95 * offeredFramesPerSec)
    reason = `delivered ${Math.round(m.framesPerSec)} frames/s < 95 % of ${offeredFramesPerSec} offered`;
  return {
    rate,
    sustained: reason === undefined,
    reason,
    freshClients,
    framesPerServerCpuS: m.serverCpuTotalMs > 0 ? g.frames / (m.serverCpuTotalMs / 1000) : NaN,
    lastSubscriberP99Ms: g.lastReceiver.p99,
    measurement: m,
  };
}

const TITLES: Record<S1SaturationVariant, (n: string) => string> = {
  S1max: (n) => `fan-out capacity, N = ${n}`,
  S1max1: (n) => `fan-out capacity, one server process per target, N = ${n}`,
  S1max10k: (n) => `fan-out capacity, N = ${n}, clients kept across steps`,
};

const LABELS: Record<S1SaturationVariant, (n: number) => string> = {
  S1max: (n) => `S1 max N=${n}`,
  S1max1: (n) => `S1 max 1proc N=${n}`,
  // The smoke variant runs it at the same tiny N as S1max: "kept" tells the two apart there.
  S1max10k: (n) => (n >= 10_000 ? `S1 max N=${n}` : `S1 max kept N=${n}`),
};

/** Runs one measurement window at `rate` with the given hooks; how the clients come to be is the runner's business. */
type StepRunner = (rate: number, hooks?: WindowHooks) => Promise<SaturationStep>;

export async function runS1Saturation(ctx: RunContext, p: S1SaturationParams): Promise<ScenarioOutcome> {
  const projectId = `bench-${p.variant.toLowerCase()}-${p.subscribers}`;
  const topic = `/${projectId}/requests`;
  const requests = 10;
  const n = p.subscribers.toLocaleString('en-US');
  const traced = p.straceRate !== undefined;
  const title = TITLES[p.variant](n) + (traced ? ` (--strace: one traced step at ${p.straceRate} events/s, no search)` : '');
  const outcome = newOutcome(p.variant, LABELS[p.variant](p.subscribers), title, { ...p });
  const plans = samePlans(`${p.variant.toLowerCase()}-owner`, p.subscribers, topic);
  ctx.log(
    traced
      ? `${outcome.label}: one step at ${p.straceRate} events/s, ${p.stepMs / 1000} s, strace attached`
      : `${outcome.label}: rates ${p.rates.join(', ')} events/s, ${p.stepMs / 1000} s each, p99 bound ${p.p99BoundMs} ms` +
          (p.reuseClients ? ', clients kept across steps' : ', fresh clients per step'),
  );

  await eachTarget<SaturationResult>(ctx, outcome, async (target) => {
    let version = 0;
    const update = (id: number, ts: number): Envelope =>
      requestEnvelope('request.update', { projectId, index: id % requests, version: ++version, benchId: id, benchTs: ts });
    await target.seed(membersSeed(projectId, plans, 'owner'));
    const warmup: Envelope[] = [];
    for (let r = 0; r < requests; r++)
      warmup.push(requestEnvelope('request.create', { projectId, index: r, version: ++version, benchId: 0, benchTs: 0 }));
    const steps: SaturationStep[] = [];
    const logStep = (step: SaturationStep) => {
      const m = step.measurement;
      ctx.log(
        `  ${target.id}: ${step.rate} events/s → ${Math.round(m.framesPerSec)} frames/s, p99 ${m.generator.latency.p99.toFixed(1)} ms, ` +
          `${Number.isFinite(step.framesPerServerCpuS) ? Math.round(step.framesPerServerCpuS) : '—'} frames per server CPU-s, ` +
          `last subscriber p99 ${step.lastSubscriberP99Ms.toFixed(1)} ms` +
          (step.sustained ? '' : ` (not sustained: ${step.reason})`),
      );
    };
    const event = (id: number, ts: number) => ({ envelope: update(id, ts), key: 0 });
    let session: MeasureSession | null = null;
    try {
      let run: StepRunner;
      if (!p.reuseClients) {
        // Fresh clients per attempt (the previous one's backlog, if any, is gone with them); warm-up only once.
        run = async (rate, hooks) => {
          const m = await measureSteady(target, {
            plans,
            workers: workersFor(p.subscribers, ctx.quick),
            warmup: steps.length === 0 ? warmup : [],
            log: () => undefined,
            name: `${rate}/s`,
            drainMs: p.drainMs,
            rate,
            durationMs: p.stepMs,
            event,
            hooks,
          });
          return judge(rate, m, p, true);
        };
      } else {
        const opened = await MeasureSession.open(target, {
          specs: specsFor(target, plans),
          workers: workersFor(p.subscribers, ctx.quick),
          warmup,
          log: ctx.log,
        });
        session = opened;
        run = keptClientsRunner(opened, target, p, event, ctx.log);
      }
      if (traced) {
        steps.push(await tracedStep(target, run, p.straceRate!));
        logStep(steps[0]!);
        return { steps, best: null };
      }
      let best: SaturationStep | null = null;
      const attempt = async (rate: number) => {
        const step = await run(rate);
        steps.push(step);
        logStep(step);
        return step;
      };
      for (const rate of p.rates) {
        // A step that fails is tried once more: one stall of a shared 2-core machine does not end the search.
        let step = await attempt(rate);
        if (!step.sustained) step = await attempt(rate);
        if (!step.sustained) break;
        best = step;
      }
      return { steps, best };
    } finally {
      await session?.close();
    }
  });

  outcome.rows = traced ? tracedRows(outcome) : searchRows(outcome, p);
  if (!traced) searchNotes(outcome);
  return outcome;
}

/**
 * Steps on clients connected once. Event ids continue across steps, so a frame of an earlier step that arrives
 * during a later one is counted there as unexpected (the step fails) instead of passing for one of its events.
 * Before a step: if the previous one lost frames (they may still be on their way) or had a client closed under it,
 * or frames keep arriving for `settleQuietMs`… 10 s, every client is replaced by a fresh one first.
 */
function keptClientsRunner(
  session: MeasureSession,
  target: Target,
  p: S1SaturationParams,
  event: (id: number, ts: number) => { envelope: Envelope; key: number },
  log: (s: string) => void,
): StepRunner {
  let nextId = 1;
  let previous: SaturationStep | null = null;
  return async (rate, hooks) => {
    const g = previous?.measurement.generator;
    // The first step runs on the clients the session just connected.
    let fresh = previous === null;
    const backlog = g && g.lost + g.duplicates + g.unexpected + g.closedEarly > 0;
    if (backlog || !(await session.settle(p.settleQuietMs, 10_000))) {
      log(
        `  ${target.id}: fresh clients before ${rate} events/s (${backlog ? 'the previous step did not deliver cleanly' : 'frames still arriving'})`,
      );
      await session.reconnect();
      // What the old connections left behind (closes, dropped writes) is worked off before the window opens.
      await sleep(1000);
      await session.settle(p.settleQuietMs, 10_000);
      fresh = true;
    }
    const firstId = nextId;
    const m = await session.window(
      {
        name: `${rate}/s`,
        ingestTargets: target.ingest.length,
        drainMs: p.drainMs,
        drive: steadyDriver(target, { rate, durationMs: p.stepMs, event, firstId }),
      },
      hooks,
    );
    nextId = firstId + m.events;
    previous = judge(rate, m, p, fresh);
    return previous;
  };
}

/** One step with `strace -c -f` attached to every server process of the target for the window. */
async function tracedStep(target: Target, run: StepRunner, rate: number): Promise<SaturationStep> {
  let trace: SyscallTrace | null = null;
  let syscalls: Record<string, SyscallCounts> = {};
  const step = await run(rate, {
    before: async () => {
      trace = await SyscallTrace.attach(target.serverProcesses());
    },
    after: async () => {
      syscalls = await trace!.detach();
    },
  });
  return { ...step, syscalls };
}

const WRITES = ['write', 'writev', 'sendmsg', 'sendto', 'sendmmsg'];

function perFrame(step: SaturationStep, calls: (c: SyscallCounts) => number): number {
  const frames = step.measurement.generator.frames;
  const total = Object.values(step.syscalls ?? {}).reduce((n, c) => n + calls(c), 0);
  return frames > 0 ? total / frames : NaN;
}

function sum(c: SyscallCounts, names?: string[]): number {
  return Object.entries(c).reduce((n, [k, v]) => (names && !names.includes(k) ? n : n + v), 0);
}

function tracedRows(outcome: ScenarioOutcome): ScenarioOutcome['rows'] {
  const only = (f: (s: SaturationStep) => number) => (r: SaturationResult) => (r.steps[0] ? f(r.steps[0]) : NaN);
  for (const [id, t] of Object.entries(outcome.targets)) {
    if (t?.status !== 'measured') continue;
    const step = (t.measurement as SaturationResult).steps[0];
    if (!step) continue;
    for (const [proc, c] of Object.entries(step.syscalls ?? {})) {
      const top = Object.entries(c)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      outcome.notes.push(`${id}: ${proc}: ${sum(c)} system calls (${top})`);
    }
    outcome.notes.push(`${id}: ${step.measurement.generator.frames} frames delivered in the traced window`);
  }
  const calls = (names?: string[]) => only((s) => perFrame(s, (c) => sum(c, names)));
  return [
    rowOf(outcome, 'write calls per delivered frame (all server processes)', 3, calls(['write'])),
    rowOf(outcome, 'writev calls per delivered frame', 3, calls(['writev'])),
    rowOf(outcome, 'any write-like call per delivered frame (write, writev, sendmsg, sendto, sendmmsg)', 3, calls(WRITES)),
    rowOf(outcome, 'system calls of any kind per delivered frame', 3, calls()),
    rowOf(
      outcome,
      'frames delivered in the traced window',
      0,
      only((s) => s.measurement.generator.frames),
      false,
    ),
    rowOf(
      outcome,
      'lost frames (timings under strace are not the target’s)',
      0,
      only((s) => s.measurement.generator.lost),
      false,
    ),
  ];
}

/**
 * The attempt at `rate` in a target's search: a sustained one if any (the other was a stall), else the last.
 * Null when the search never offered that rate (it stopped earlier).
 */
function stepAt(r: SaturationResult, rate: number): SaturationStep | null {
  const at = r.steps.filter((s) => s.rate === rate);
  return at.find((s) => s.sustained) ?? at.at(-1) ?? null;
}

function searchRows(outcome: ScenarioOutcome, p: S1SaturationParams): ScenarioOutcome['rows'] {
  const bestOf = (f: (s: SaturationStep) => number) => (r: SaturationResult) => (r.best ? f(r.best) : NaN);
  const ws = outcome.targets.ws;
  const wsRate = ws?.status === 'measured' ? (ws.measurement as SaturationResult).best?.rate : undefined;
  const atWsRate = (r: SaturationResult): Cell => {
    const step = wsRate === undefined ? null : stepAt(r, wsRate);
    if (!step) return null;
    // An event some subscriber never got has no time to its last subscriber.
    return step.measurement.generator.lost > 0 ? 'lost' : step.lastSubscriberP99Ms;
  };
  return [
    rowOf(
      outcome,
      `max sustained delivered frames/s (p99 ≤ ${p.p99BoundMs} ms, nothing lost)`,
      0,
      bestOf((s) => s.measurement.framesPerSec),
    ),
    rowOf(
      outcome,
      'at events/s',
      p.rates.some((r) => !Number.isInteger(r)) ? 1 : 0,
      bestOf((s) => s.rate),
    ),
    rowOf(
      outcome,
      'delivered frames per server CPU-second at that rate (Redis included; target ≥ 2× raw ws)',
      0,
      bestOf((s) => s.framesPerServerCpuS),
    ),
    rowOf(
      outcome,
      'latency p99 at that rate (ms, per frame)',
      2,
      bestOf((s) => s.measurement.generator.latency.p99),
    ),
    rowOf(outcome, "ingest → last subscriber p99 at raw ws's max sustained rate (ms; target ≤ ½ raw ws)", 2, atWsRate),
    rowOf(
      outcome,
      'server CPU at that rate (% of one core)',
      0,
      bestOf((s) => serverCpuPct(s.measurement)),
    ),
    rowOf(
      outcome,
      'load generator CPU at that rate (% of one core)',
      0,
      bestOf((s) => generatorCpuPct(s.measurement)),
      false,
    ),
  ];
}

function searchNotes(outcome: ScenarioOutcome): void {
  const ws = outcome.targets.ws;
  const wsRate = ws?.status === 'measured' ? (ws.measurement as SaturationResult).best?.rate : undefined;
  if (wsRate === undefined) outcome.notes.push(`ingest → last subscriber at raw ws's rate: raw ws has no sustained step here`);
  for (const id of Object.keys(outcome.targets) as TargetId[]) {
    const t = outcome.targets[id];
    if (t?.status !== 'measured') continue;
    const r = t.measurement as SaturationResult;
    // The search ends at a step that failed twice in a row: the last attempt, when it failed.
    const last = r.steps.at(-1);
    const retried = r.steps.filter((s, i) => s.sustained && r.steps[i - 1]?.rate === s.rate).length;
    const passedOnRetry = retried > 0 ? `; ${retried} step(s) passed on a second attempt` : '';
    const fresh = r.steps.filter((s, i) => s.freshClients && i > 0).length;
    const freshNote =
      fresh > 0 && !r.steps.every((s) => s.freshClients) ? `; ${fresh} step(s) on fresh clients after a step that left a backlog` : '';
    outcome.notes.push(
      last && !last.sustained
        ? `${id}: stopped at ${last.rate} events/s (failed twice): ${last.reason}${passedOnRetry}${freshNote}`
        : `${id}: sustained every step offered${passedOnRetry}${freshNote}`,
    );
    const atWs = wsRate === undefined ? null : stepAt(r, wsRate);
    if (id !== 'ws' && wsRate !== undefined) {
      if (!atWs) outcome.notes.push(`${id}: no step at raw ws's ${wsRate} events/s (the search stopped below it)`);
      else if (!atWs.sustained) outcome.notes.push(`${id}: at raw ws's ${wsRate} events/s not sustained: ${atWs.reason}`);
    }
  }
}
