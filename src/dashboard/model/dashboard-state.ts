import type { ProjectMetrics } from '../../analytics/metrics-shape';
import type { ProjectUserDoc } from './documents';
import { appendPoint, SeriesPoint } from './metrics-series';
import { applyRequestFrame, RequestMap } from './request-list';
import { clockOffsetMs } from './server-clock';

/**
 * Everything the page shows about one project, and how each thing that happens (a frame, an error frame, a change
 * of connection) changes it: a pure reducer, so the page's logic is tested without a browser or a socket.
 */

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Per topic: not asked yet, asked and waiting for the snapshot, live, or refused (with the error frame's code). */
export type TopicStatus = { kind: 'off' } | { kind: 'pending' } | { kind: 'live' } | { kind: 'refused'; code: string; message: string };

export interface DashboardState {
  connection: ConnectionState;
  reconnects: number;
  metricsTopic: TopicStatus;
  metrics: { value: ProjectMetrics; receivedAtMs: number } | null;
  series: readonly SeriesPoint[];
  requestsTopic: TopicStatus;
  requests: RequestMap;
  /** Agents followed through T5, by user id; undefined until their snapshot arrives. */
  agents: ReadonlyMap<string, ProjectUserDoc | undefined>;
  /** The viewer's own project_user (T4). */
  me: ProjectUserDoc | null;
  /** Server clock minus browser clock, ms (see server-clock.ts). */
  clockOffsetMs: number;
}

export type DashboardEvent =
  | { type: 'connection'; state: ConnectionState; reconnects: number }
  | { type: 'subscribing'; topic: 'metrics' | 'requests' }
  | { type: 'metrics'; message: unknown; receivedAtMs: number }
  | { type: 'requests'; method: string; message: unknown }
  | { type: 'follow-agents'; userIds: readonly string[] }
  | { type: 'agent'; userId: string; message: unknown }
  | { type: 'me'; message: unknown }
  | { type: 'refused'; topic: 'metrics' | 'requests'; code: string; message: string }
  | { type: 'clock'; offsetMs: number };

export function initialState(): DashboardState {
  return {
    connection: 'idle',
    reconnects: 0,
    metricsTopic: { kind: 'off' },
    metrics: null,
    series: [],
    requestsTopic: { kind: 'off' },
    requests: new Map(),
    agents: new Map(),
    me: null,
    clockOffsetMs: 0,
  };
}

export function reduce(state: DashboardState, event: DashboardEvent): DashboardState {
  switch (event.type) {
    case 'connection':
      return { ...state, connection: event.state, reconnects: event.reconnects };
    case 'subscribing':
      return event.topic === 'metrics' ? { ...state, metricsTopic: { kind: 'pending' } } : { ...state, requestsTopic: { kind: 'pending' } };
    case 'metrics': {
      if (!isMetrics(event.message)) return state;
      const value = event.message;
      return {
        ...state,
        metricsTopic: { kind: 'live' },
        metrics: { value, receivedAtMs: event.receivedAtMs },
        series: appendPoint(state.series, value),
        clockOffsetMs: clockOffsetMs(value.generated_at, event.receivedAtMs),
      };
    }
    case 'requests':
      return { ...state, requestsTopic: { kind: 'live' }, requests: applyRequestFrame(state.requests, event.method, event.message) };
    case 'follow-agents': {
      const agents = new Map(state.agents);
      for (const id of event.userIds) if (!agents.has(id)) agents.set(id, undefined);
      return agents.size === state.agents.size ? state : { ...state, agents };
    }
    case 'agent': {
      if (!isProjectUser(event.message)) return state;
      const agents = new Map(state.agents);
      agents.set(event.userId, event.message);
      return { ...state, agents };
    }
    case 'me':
      return isProjectUser(event.message) ? { ...state, me: event.message } : state;
    case 'refused': {
      const refused: TopicStatus = { kind: 'refused', code: event.code, message: event.message };
      return event.topic === 'metrics' ? { ...state, metricsTopic: refused } : { ...state, requestsTopic: refused };
    }
    case 'clock':
      // A page with metrics takes its offset from them (finer than the Date header).
      return state.metrics === null ? { ...state, clockOffsetMs: event.offsetMs } : state;
  }
}

function isMetrics(m: unknown): m is ProjectMetrics {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Partial<ProjectMetrics>;
  return (
    typeof o.generated_at === 'string' && typeof o.requests === 'object' && typeof o.flow === 'object' && typeof o.forecast === 'object'
  );
}

function isProjectUser(m: unknown): m is ProjectUserDoc {
  return typeof m === 'object' && m !== null && typeof (m as ProjectUserDoc)._id === 'string';
}

/**
 * "No data yet": nothing open, nothing arrived or closed within the metrics window. The tiles would show zeros
 * that look like figures; the page says so instead.
 */
export function hasNoData(m: ProjectMetrics): boolean {
  return m.requests.open === 0 && m.flow.arrivals_per_hour === 0 && m.flow.closures_per_hour === 0;
}
