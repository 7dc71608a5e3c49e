import { parseClusterLocalArgs } from './cluster-local-args';

describe('parseClusterLocalArgs', () => {
  it('defaults to port 8443 without the demo', () => {
    expect(parseClusterLocalArgs([], {})).toEqual({ ok: true, args: { port: 8443, demo: false, eventsPerSecond: 4, seed: undefined } });
  });

  it('takes CLUSTER_PORT (0: a free port), --demo, DEMO_EVENTS_PER_S and DEMO_SEED', () => {
    expect(parseClusterLocalArgs(['--demo'], { CLUSTER_PORT: '0', DEMO_EVENTS_PER_S: '12.5', DEMO_SEED: ' s1 ' })).toEqual({
      ok: true,
      args: { port: 0, demo: true, eventsPerSecond: 12.5, seed: 's1' },
    });
  });

  it('names every bad value at once, and unknown flags', () => {
    const bad = parseClusterLocalArgs([], { CLUSTER_PORT: '70000', DEMO_EVENTS_PER_S: 'fast' });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.message).toContain('CLUSTER_PORT');
    expect(bad.message).toContain('DEMO_EVENTS_PER_S');
    expect(parseClusterLocalArgs(['--demon'], {})).toMatchObject({ ok: false, help: false });
    expect(parseClusterLocalArgs(['-h'], {})).toMatchObject({ ok: false, help: true });
  });
});
