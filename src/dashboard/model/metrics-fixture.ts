import type { ProjectMetrics } from '../../analytics/metrics-shape';

/** A small, consistent metrics object for the model's specs. */
export function metricsAt(iso: string, over: { unassigned?: number; arrivals?: number; closures?: number } = {}): ProjectMetrics {
  return {
    project_id: 'p',
    generated_at: iso,
    window_s: 900,
    requests: { open: 3, unassigned: over.unassigned ?? 1, assigned: 2, served: 0, oldest_wait_s: 12, avg_wait_s: 12 },
    agents: { members: 2, available: 2, busy: 0, unavailable: 0, online: 2 },
    capacity: { slots_total: 6, slots_used: 2, slots_free: 4, utilization: 0.3333, unlimited_agents: 0 },
    flow: {
      arrivals_per_hour: over.arrivals ?? 4,
      closures_per_hour: over.closures ?? 2,
      median_first_response_s: 10,
      mean_handle_time_s: 300,
    },
    forecast: {
      offered_load_erlangs: 0.3333,
      servers: 6,
      servers_estimated: false,
      p_wait: 0.0001,
      expected_wait_s: 0,
      service_level: 1,
      target: { answer_within_s: 60, level: 0.8 },
      slots_needed_for_target: 1,
      overloaded: false,
      handle_time_estimated: false,
    },
  };
}
