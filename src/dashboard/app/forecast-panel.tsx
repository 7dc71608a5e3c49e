import type { ForecastMetrics } from '../../analytics/metrics-shape';
import { formatDuration, formatPercent } from '../model/format';

/** The forecast figures of a metrics object or of the what-if, the same way. */
export interface ForecastFigures {
  p_wait: number;
  expected_wait_s: number | null;
  service_level: number | null;
  slots_needed_for_target: number;
  servers: number;
  overloaded: boolean;
}

export function ForecastFiguresList(props: { f: ForecastFigures; target: ForecastMetrics['target']; testId: string }) {
  const { f, target } = props;
  const meetsTarget = f.service_level !== null && f.service_level >= target.level;
  return (
    <dl class="figures" data-testid={props.testId}>
      <div>
        <dt>Probability of waiting</dt>
        <dd data-testid={`${props.testId}-p-wait`}>{formatPercent(f.p_wait)}</dd>
      </div>
      <div>
        <dt>Expected wait</dt>
        <dd data-testid={`${props.testId}-expected-wait`}>{f.overloaded ? 'grows without end' : formatDuration(f.expected_wait_s)}</dd>
      </div>
      <div>
        <dt>
          Answered within {target.answer_within_s} s (target {formatPercent(target.level)})
        </dt>
        <dd data-testid={`${props.testId}-service-level`} class={meetsTarget ? 'good' : 'bad'}>
          {f.service_level === null ? 'none can be promised' : formatPercent(f.service_level)}
        </dd>
      </div>
      <div>
        <dt>Chat slots needed for the target</dt>
        <dd data-testid={`${props.testId}-slots`} class={f.slots_needed_for_target > f.servers ? 'bad' : 'good'}>
          {f.slots_needed_for_target} needed, {f.servers} available
        </dd>
      </div>
    </dl>
  );
}

export function OverloadBanner(props: { f: ForecastFigures; testId: string }) {
  if (!props.f.overloaded) return null;
  return (
    <p class="alert" role="alert" data-testid={`${props.testId}-overloaded`}>
      Overloaded: requests arrive faster than {props.f.servers === 0 ? 'anyone is there to' : `${props.f.servers} chat slots can`} take
      them; the queue keeps growing.
    </p>
  );
}

/** The service's forecast (analytics.md "forecast"), with its assumptions said. */
export function ForecastPanel(props: { forecast: ForecastMetrics }) {
  const f = props.forecast;
  const assumptions = [
    f.servers_estimated ? 'chat slots assumed (agents without a chat limit)' : null,
    f.handle_time_estimated ? 'handle time assumed (no request closed in the window)' : null,
  ].filter((a): a is string => a !== null);
  return (
    <section class="panel" aria-labelledby="forecast-title">
      <h2 id="forecast-title">Forecast</h2>
      <OverloadBanner f={f} testId="forecast" />
      <ForecastFiguresList f={f} target={f.target} testId="forecast" />
      <p class="muted small">
        Erlang C with each chat slot as a server, {f.offered_load_erlangs} Erlangs offered.
        {assumptions.length > 0 && ` ${assumptions.join('; ')}.`}
      </p>
    </section>
  );
}
