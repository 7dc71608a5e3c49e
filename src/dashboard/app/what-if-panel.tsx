import { useState } from 'preact/hooks';
import type { ProjectMetrics } from '../../analytics/metrics-shape';
import { formatRate } from '../model/format';
import { baselineFrom, sliderBounds, whatIf } from '../model/what-if';
import { ForecastFiguresList, OverloadBanner } from './forecast-panel';

/**
 * Staffing what-if: the sliders start at the live values and follow them until moved; the forecast is computed
 * here, in the page, by the server's own Erlang C module.
 */
export function WhatIfPanel(props: { metrics: ProjectMetrics }) {
  const base = baselineFrom(props.metrics);
  const [chosen, setChosen] = useState<{ arrivals: number; agents: number } | null>(null);
  const arrivals = chosen?.arrivals ?? Math.round(base.arrivalsPerHour);
  const agents = chosen?.agents ?? base.agents;
  const bounds = sliderBounds(base);
  const f = whatIf(base, arrivals, agents);
  const set = (next: Partial<{ arrivals: number; agents: number }>) => setChosen({ arrivals, agents, ...next });
  const slots = Math.round(agents * base.slotsPerAgent);
  return (
    <section class="panel" aria-labelledby="what-if-title">
      <h2 id="what-if-title">What if…</h2>
      <label class="slider">
        <span>
          Arrivals per hour: <strong data-testid="what-if-arrivals">{arrivals}</strong>
          <span class="muted"> (now {formatRate(base.arrivalsPerHour)})</span>
        </span>
        <input
          type="range"
          min={0}
          max={Math.max(bounds.arrivalsMax, arrivals)}
          step={1}
          value={arrivals}
          aria-label="Arrivals per hour"
          onInput={(e) => set({ arrivals: Number(e.currentTarget.value) })}
        />
      </label>
      <label class="slider">
        <span>
          Available agents: <strong data-testid="what-if-agents">{agents}</strong>
          <span class="muted"> (now {base.agents})</span>
        </span>
        <input
          type="range"
          min={0}
          max={Math.max(bounds.agentsMax, agents)}
          step={1}
          value={agents}
          aria-label="Available agents"
          onInput={(e) => set({ agents: Number(e.currentTarget.value) })}
        />
      </label>
      <p class="muted small">
        {slots} chat slots ({base.slotsPerAgentAssumed ? 'assumed' : 'measured'} {formatRate(base.slotsPerAgent)} per agent), handle time{' '}
        {Math.round(base.handleTimeS)} s{base.handleTimeAssumed ? ' (assumed)' : ''}.
        {chosen !== null && (
          <>
            {' '}
            <button type="button" class="link" onClick={() => setChosen(null)}>
              Back to the live values
            </button>
          </>
        )}
      </p>
      <OverloadBanner f={f} testId="what-if" />
      <ForecastFiguresList f={f} target={props.metrics.forecast.target} testId="what-if" />
    </section>
  );
}
