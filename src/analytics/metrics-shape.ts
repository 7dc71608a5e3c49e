/**
 * The `/P/metrics` object of analytics.md, as the service sends it (topic T8 and `GET /v1/projects/<P>/metrics`).
 * Types only and no Node built-ins: the typed client and the dashboard import it too.
 */
export interface ProjectMetrics {
  project_id: string;
  /** ISO time the object was computed at (the engine's clock: Redis TIME on the Redis engine). */
  generated_at: string;
  /** METRICS_WINDOW_S: the sliding window of `flow`. */
  window_s: number;
  requests: RequestMetrics;
  agents: AgentMetrics;
  capacity: CapacityMetrics;
  flow: FlowMetrics;
  forecast: ForecastMetrics;
}

export interface RequestMetrics {
  open: number;
  unassigned: number;
  assigned: number;
  served: number;
  /** Age of the oldest unassigned request, seconds to 0.1; null when none waits. */
  oldest_wait_s: number | null;
  avg_wait_s: number | null;
}

export interface AgentMetrics {
  members: number;
  available: number;
  busy: number;
  unavailable: number;
  online: number;
}

export interface CapacityMetrics {
  /** null when an available agent has no chat limit (see unlimited_agents). */
  slots_total: number | null;
  slots_used: number;
  slots_free: number | null;
  utilization: number | null;
  unlimited_agents: number;
}

export interface FlowMetrics {
  arrivals_per_hour: number;
  closures_per_hour: number;
  median_first_response_s: number | null;
  mean_handle_time_s: number | null;
}

export interface ForecastMetrics {
  offered_load_erlangs: number;
  servers: number;
  servers_estimated: boolean;
  p_wait: number;
  expected_wait_s: number | null;
  service_level: number | null;
  target: { answer_within_s: number; level: number };
  slots_needed_for_target: number;
  overloaded: boolean;
  handle_time_estimated: boolean;
}

/** One project the caller is an active member of, as `GET /v1/me/projects` lists it. */
export interface MemberProject {
  project_id: string;
  /** The project's `name` when the service has its document, else null. */
  name: string | null;
  role: string;
  /** The member's own project_user id (for `/P/project_users/<id>`). */
  project_user_id: string;
  /** Whether the member may read `/P/metrics` (owner, admin, supervisor, or permission analytics_read). */
  analytics: boolean;
}

/** `GET /v1/me/projects`. */
export interface MemberProjects {
  user_id: string;
  projects: MemberProject[];
}
