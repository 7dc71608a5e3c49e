import type { RedisProcess } from '../lib/processes';
import type { ScenarioOutcome, TargetStatus } from '../lib/report';
import { Target, TARGET_IDS, TargetId } from '../lib/targets';

/** Starts a fresh instance of a target (its own processes, an empty Redis), or says why it cannot. */
export type TargetStarter = (() => Promise<Target>) | { unavailable: string };

/** What every scenario gets from the runner. */
export interface RunContext {
  quick: boolean;
  redis: RedisProcess;
  targets: Record<TargetId, TargetStarter>;
  log(line: string): void;
}

/**
 * Runs `one` on every available target in turn (ours first), each on processes started for this
 * measurement and stopped after it, so that no scenario inherits another's heap, connections or Redis
 * contents. A failure of one target becomes an `error` cell instead of ending the scenario; `skip` returns
 * a reason when a target cannot run this scenario as designed (it is then `n/a`, the reason in the notes).
 * What `one` returns (`M`: whatever the scenario measures) is stored as the target's measurement.
 */
export async function eachTarget<M>(
  ctx: RunContext,
  outcome: ScenarioOutcome,
  one: (t: Target) => Promise<M>,
  skip: (id: TargetId) => string | null = () => null,
): Promise<void> {
  for (const id of TARGET_IDS) {
    const start = ctx.targets[id];
    const why = typeof start === 'function' ? skip(id) : start.unavailable;
    let status: TargetStatus;
    if (why !== null) {
      status = { status: 'unavailable', reason: why };
    } else {
      let target: Target | null = null;
      try {
        target = await (start as () => Promise<Target>)();
        status = { status: 'measured', measurement: await one(target) };
      } catch (err) {
        ctx.log(`  ${id}: ERROR ${(err as Error).message}`);
        status = { status: 'error', reason: (err as Error).message };
      } finally {
        await target?.stop().catch(() => undefined);
      }
    }
    if (status.status !== 'measured') outcome.notes.push(`${id}: ${status.reason}`);
    outcome.targets[id] = status;
  }
}
