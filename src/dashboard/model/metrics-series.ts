import type { ProjectMetrics } from '../../analytics/metrics-shape';

/**
 * The chart's data: one point per `/P/metrics` frame the page received, kept for the last hour. The service keeps
 * no history, so the chart starts empty when the page opens and fills as frames arrive.
 */
export interface SeriesPoint {
  /** `generated_at`, in Unix seconds (uPlot's x axis unit). */
  t: number;
  /** requests.unassigned: the queue. */
  queue: number;
  arrivalsPerHour: number;
  closuresPerHour: number;
}

export const SERIES_WINDOW_S = 3600;

/**
 * The series with the point of `m` appended, and points older than `windowS` before it dropped. A frame with the
 * same `generated_at` as the last point (a snapshot re-sent after a resubscribe) replaces it; an older one (a
 * replica whose clock is behind) is dropped, so that x stays ascending as uPlot needs.
 */
export function appendPoint(series: readonly SeriesPoint[], m: ProjectMetrics, windowS = SERIES_WINDOW_S): SeriesPoint[] {
  const t = Date.parse(m.generated_at) / 1000;
  if (!Number.isFinite(t)) return [...series];
  const last = series[series.length - 1];
  if (last !== undefined && t < last.t) return [...series];
  const point: SeriesPoint = {
    t,
    queue: m.requests.unassigned,
    arrivalsPerHour: m.flow.arrivals_per_hour,
    closuresPerHour: m.flow.closures_per_hour,
  };
  const kept = last !== undefined && t === last.t ? series.slice(0, -1) : series.slice();
  kept.push(point);
  const from = t - windowS;
  const first = kept.findIndex((p) => p.t >= from);
  return first <= 0 ? kept : kept.slice(first);
}

/** The columns uPlot draws: x, queue, arrivals per hour, closures per hour. */
export function seriesColumns(series: readonly SeriesPoint[]): [number[], number[], number[], number[]] {
  return [series.map((p) => p.t), series.map((p) => p.queue), series.map((p) => p.arrivalsPerHour), series.map((p) => p.closuresPerHour)];
}
