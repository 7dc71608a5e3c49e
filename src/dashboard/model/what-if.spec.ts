import { forecast } from '../../analytics/erlang-c';
import type { ProjectMetrics } from '../../analytics/metrics-shape';
import { metricsAt } from './metrics-fixture';
import { baselineFrom, sliderBounds, whatIf } from './what-if';

/** A metrics object whose forecast is what the server would compute from its own inputs. */
function live(over: {
  arrivals: number;
  handle: number | null;
  defaultHandle?: number;
  available: number;
  slotsTotal: number | null;
  assumed?: number;
}) {
  const m = metricsAt('2026-11-25T10:00:00.000Z', { arrivals: over.arrivals });
  const h = over.handle ?? over.defaultHandle ?? 600;
  const servers = over.slotsTotal ?? over.available * (over.assumed ?? 3);
  const f = forecast({ arrivalsPerHour: over.arrivals, handleTimeS: h, servers, targetAnswerS: 60, targetLevel: 0.8 });
  const out: ProjectMetrics = {
    ...m,
    agents: { ...m.agents, available: over.available },
    capacity: { ...m.capacity, slots_total: over.slotsTotal },
    flow: { ...m.flow, mean_handle_time_s: over.handle },
    forecast: {
      ...f,
      servers_estimated: over.slotsTotal === null,
      handle_time_estimated: over.handle === null,
      target: { answer_within_s: 60, level: 0.8 },
    },
  };
  return { m: out, f };
}

describe('the staffing what-if', () => {
  it('at the live values, gives the live forecast (same module, same inputs)', () => {
    for (const c of [
      { arrivals: 40, handle: 540, available: 6, slotsTotal: 18 },
      { arrivals: 40, handle: null, available: 6, slotsTotal: 18 },
      { arrivals: 40, handle: null, defaultHandle: 420, available: 4, slotsTotal: null, assumed: 2 },
      { arrivals: 90, handle: 300, available: 2, slotsTotal: 5 },
      { arrivals: 0, handle: null, available: 0, slotsTotal: null },
    ]) {
      const { m, f } = live(c);
      const base = baselineFrom(m);
      expect(whatIf(base, base.arrivalsPerHour, base.agents)).toEqual(f);
    }
  });

  it('learns slots per agent from the limits, else from the assumed concurrency, else 3', () => {
    expect(baselineFrom(live({ arrivals: 40, handle: 540, available: 6, slotsTotal: 18 }).m)).toMatchObject({
      slotsPerAgent: 3,
      slotsPerAgentAssumed: false,
    });
    expect(baselineFrom(live({ arrivals: 40, handle: 540, available: 4, slotsTotal: null, assumed: 2 }).m)).toMatchObject({
      slotsPerAgent: 2,
      slotsPerAgentAssumed: true,
    });
    expect(baselineFrom(live({ arrivals: 40, handle: 540, available: 0, slotsTotal: null }).m)).toMatchObject({ slotsPerAgent: 3 });
  });

  it('moves the right way: more arrivals raise the chance to wait, more agents lower it', () => {
    const base = baselineFrom(live({ arrivals: 40, handle: 540, available: 3, slotsTotal: 9 }).m);
    const now = whatIf(base, 40, 3);
    expect(whatIf(base, 55, 3).p_wait).toBeGreaterThan(now.p_wait);
    expect(whatIf(base, 40, 5).p_wait).toBeLessThan(now.p_wait);
    expect(whatIf(base, 40, 0)).toMatchObject({ overloaded: true, servers: 0 });
    expect(whatIf(base, 40, 5).servers).toBe(15);
  });

  it('bounds the sliders with room to double traffic and team', () => {
    const base = baselineFrom(live({ arrivals: 40, handle: 540, available: 6, slotsTotal: 18 }).m);
    expect(sliderBounds(base)).toEqual({ arrivalsMax: 100, agentsMax: 14 });
    expect(sliderBounds({ ...base, arrivalsPerHour: 0, agents: 0 })).toEqual({ arrivalsMax: 60, agentsMax: 10 });
  });
});
