import { forecast, Forecast } from '../../analytics/erlang-c';
import type { ProjectMetrics } from '../../analytics/metrics-shape';

/**
 * The staffing what-if: the live forecast's inputs, taken from the metrics object, with arrivals and agents
 * changed by the sliders, run through the same Erlang C module as the server (src/analytics/erlang-c.ts).
 */

/** The server's METRICS_ASSUMED_CONCURRENCY default, used when the metrics give no way to learn the real one. */
export const ASSUMED_SLOTS_PER_AGENT = 3;
/** The server's METRICS_DEFAULT_HANDLE_TIME_S default, used when the metrics give no way to learn the real one. */
export const DEFAULT_HANDLE_TIME_S = 600;

export interface WhatIfBaseline {
  arrivalsPerHour: number;
  agents: number;
  /** Chat slots per available agent: servers = agents × slotsPerAgent, rounded. */
  slotsPerAgent: number;
  /** True when slotsPerAgent is an assumption (no chat limits known), not a measure. */
  slotsPerAgentAssumed: boolean;
  handleTimeS: number;
  handleTimeAssumed: boolean;
  targetAnswerS: number;
  targetLevel: number;
}

/**
 * The inputs behind `m.forecast`, so that the what-if at the live values gives the live forecast:
 * - slots per agent = `slots_total / available` when every available agent has a limit; when the server estimated
 *   its servers (`available × METRICS_ASSUMED_CONCURRENCY`), `servers / available` is that setting; else 3;
 * - handle time = `mean_handle_time_s`; when the server used its default instead, `A / λ` gives that default back
 *   (`A = λ·h`); else 600 s.
 */
export function baselineFrom(m: ProjectMetrics): WhatIfBaseline {
  const available = m.agents.available;
  let slotsPerAgent = ASSUMED_SLOTS_PER_AGENT;
  let slotsPerAgentAssumed = true;
  if (available > 0 && m.capacity.slots_total !== null) {
    slotsPerAgent = m.capacity.slots_total / available;
    slotsPerAgentAssumed = false;
  } else if (available > 0 && m.forecast.servers_estimated) {
    slotsPerAgent = m.forecast.servers / available;
  }
  let handleTimeS = m.flow.mean_handle_time_s ?? DEFAULT_HANDLE_TIME_S;
  const handleTimeAssumed = m.flow.mean_handle_time_s === null;
  if (handleTimeAssumed && m.flow.arrivals_per_hour > 0 && m.forecast.offered_load_erlangs > 0) {
    handleTimeS = Math.round((m.forecast.offered_load_erlangs * 3600) / m.flow.arrivals_per_hour);
  }
  return {
    arrivalsPerHour: m.flow.arrivals_per_hour,
    agents: available,
    slotsPerAgent,
    slotsPerAgentAssumed,
    handleTimeS: handleTimeS > 0 ? handleTimeS : DEFAULT_HANDLE_TIME_S,
    handleTimeAssumed,
    targetAnswerS: m.forecast.target.answer_within_s,
    targetLevel: m.forecast.target.level,
  };
}

/** The forecast with `arrivalsPerHour` arrivals and `agents` available agents, everything else as in `base`. */
export function whatIf(base: WhatIfBaseline, arrivalsPerHour: number, agents: number): Forecast {
  return forecast({
    arrivalsPerHour,
    handleTimeS: base.handleTimeS,
    servers: Math.round(agents * base.slotsPerAgent),
    targetAnswerS: base.targetAnswerS,
    targetLevel: base.targetLevel,
  });
}

/** Slider bounds around the live values: room to double the traffic and the team. */
export function sliderBounds(base: WhatIfBaseline): { arrivalsMax: number; agentsMax: number } {
  return {
    arrivalsMax: Math.max(60, Math.ceil((base.arrivalsPerHour * 2.5) / 10) * 10),
    agentsMax: Math.max(10, base.agents * 2 + 2),
  };
}
