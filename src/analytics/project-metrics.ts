import { forecast, roundSeconds, significant } from './erlang-c';
import { MetricCounter } from './metrics-ops';
import { ProjectMetrics } from './metrics-shape';

/** The METRICS_* settings of analytics.md. */
export interface MetricsSettings {
  /** METRICS_WINDOW_S: the sliding window of `flow`. */
  windowS: number;
  /** METRICS_DEFAULT_HANDLE_TIME_S: the handle time when no closure in the window gives one. */
  defaultHandleTimeS: number;
  /** METRICS_ASSUMED_CONCURRENCY: chats per available agent when some agent has no limit. */
  assumedConcurrency: number;
  /** METRICS_TARGET_ANSWER_S and METRICS_TARGET_LEVEL: the service level target. */
  targetAnswerS: number;
  targetLevel: number;
}

/**
 * What an engine keeps of a project's metrics, read at one instant (`now`, the engine's clock), the windows
 * already cut to `(now − window, …]`. Everything is a running total or an order statistic the engine keeps
 * sorted: turning it into the object costs the same whatever the project's size.
 */
export interface MetricsState {
  now: number;
  counters: Record<MetricCounter, number>;
  /** Unassigned requests with a readable createdAt: how many, the sum of their createdAt (ms), the oldest. */
  waiting: { count: number; createdSumMs: bigint; oldestCreatedMs: number | null };
  arrivals: number;
  closures: number;
  /** Closures whose handle time could be computed, and the sum of those handle times (ms). */
  handled: { count: number; sumMs: number };
  /** The median time to first response (ms) of the requests first answered in the window. */
  medianFirstResponseMs: number | null;
  /** When the oldest entry of a window leaves it (ms), so the flow figures change without any event; null when empty. */
  nextExpiryMs: number | null;
}

export function emptyCounters(): Record<MetricCounter, number> {
  return {
    open: 0,
    unassigned: 0,
    assigned: 0,
    served: 0,
    members: 0,
    available: 0,
    busy: 0,
    unavailable: 0,
    online: 0,
    slots: 0,
    unlimited: 0,
    used: 0,
  };
}

/** The `/P/metrics` object of analytics.md from a project's state: pure, so every replica computes the same. */
export function buildProjectMetrics(projectId: string, s: MetricsState, settings: MetricsSettings): ProjectMetrics {
  const c = s.counters;
  const now = s.now;
  const w = s.waiting;
  const limited = c.unlimited === 0;
  const slotsTotal = limited ? c.slots : null;
  const perHour = 3600 / settings.windowS;
  const arrivalsPerHour = s.arrivals * perHour;
  const meanHandleS = s.handled.count > 0 ? s.handled.sumMs / s.handled.count / 1000 : null;
  const handleTimeS = meanHandleS ?? settings.defaultHandleTimeS;
  const servers = slotsTotal ?? c.available * settings.assumedConcurrency;
  const f = forecast({
    arrivalsPerHour,
    handleTimeS,
    servers,
    targetAnswerS: settings.targetAnswerS,
    targetLevel: settings.targetLevel,
  });
  return {
    project_id: projectId,
    generated_at: new Date(now).toISOString(),
    window_s: settings.windowS,
    requests: {
      open: c.open,
      unassigned: c.unassigned,
      assigned: c.assigned,
      served: c.served,
      oldest_wait_s: w.oldestCreatedMs === null ? null : roundSeconds(Math.max(0, now - w.oldestCreatedMs) / 1000),
      avg_wait_s: w.count === 0 ? null : roundSeconds(Math.max(0, now - meanOf(w.createdSumMs, w.count)) / 1000),
    },
    agents: { members: c.members, available: c.available, busy: c.busy, unavailable: c.unavailable, online: c.online },
    capacity: {
      slots_total: slotsTotal,
      slots_used: c.used,
      slots_free: slotsTotal === null ? null : Math.max(0, slotsTotal - c.used),
      utilization: slotsTotal === null || slotsTotal === 0 ? null : significant(c.used / slotsTotal),
      unlimited_agents: c.unlimited,
    },
    flow: {
      arrivals_per_hour: roundSeconds(arrivalsPerHour),
      closures_per_hour: roundSeconds(s.closures * perHour),
      median_first_response_s: s.medianFirstResponseMs === null ? null : roundSeconds(s.medianFirstResponseMs / 1000),
      mean_handle_time_s: meanHandleS === null ? null : roundSeconds(meanHandleS),
    },
    forecast: {
      offered_load_erlangs: f.offered_load_erlangs,
      servers: f.servers,
      servers_estimated: slotsTotal === null,
      p_wait: f.p_wait,
      expected_wait_s: f.expected_wait_s,
      service_level: f.service_level,
      target: { answer_within_s: settings.targetAnswerS, level: settings.targetLevel },
      slots_needed_for_target: f.slots_needed_for_target,
      overloaded: f.overloaded,
      handle_time_estimated: meanHandleS === null,
    },
  };
}

/** The mean of `count` times (ms) from their exact sum (a sum of 100 000 epoch times passes 2^53). */
function meanOf(sum: bigint, count: number): number {
  const n = BigInt(count);
  const whole = sum / n;
  return Number(whole) + Number(sum - whole * n) / count;
}

/** The median of an ascending list given by its length and an accessor. */
export function medianOf(length: number, at: (i: number) => number): number | null {
  if (length === 0) return null;
  const mid = Math.floor(length / 2);
  return length % 2 === 1 ? at(mid) : (at(mid - 1) + at(mid)) / 2;
}

/** analytics.md's defaults. */
export const DEFAULT_METRICS_SETTINGS: MetricsSettings = {
  windowS: 900,
  defaultHandleTimeS: 600,
  assumedConcurrency: 3,
  targetAnswerS: 60,
  targetLevel: 0.8,
};
