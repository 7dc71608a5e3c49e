/**
 * Randomized access test on the memory engine: a seeded random sequence of ingested events and subscribes,
 * across two projects and members of every role, drives the real service (one in-process app, real ws
 * clients) and an independent model (helpers/access-model.ts, written from protocol.md §3-§4). After every
 * step every client must have received exactly the frames the model predicts, per topic and in order:
 * nothing more, nothing less. The same scenario runs on two replicas over Redis in
 * access-model-replicas.e2e-spec.ts.
 *
 * ACCESS_SEED=<n>[,<n>...] replays given seeds; ACCESS_STEPS=<n> changes the number of random steps;
 * ACCESS_VERBOSE=1 prints the coverage. Odd seeds run with small history limits (to exercise the T1/T3/T6
 * limits), even seeds with the defaults.
 */
import { AccessScenario, isDefaultRun, limitsEnv, limitsFor, seedsFromEnv, stepsFromEnv } from './helpers/access-model';
import { startTestApp } from './helpers/test-app';

const DEFAULT_SEEDS = [20261125, 42];
const DEFAULT_STEPS = 400;

describe('randomized access model (memory engine)', () => {
  const seeds = seedsFromEnv(DEFAULT_SEEDS);
  const steps = stepsFromEnv(DEFAULT_STEPS);

  it.each(seeds)(
    'seed %i: every client receives exactly the frames the model predicts',
    async (seed) => {
      const limits = limitsFor(seed);
      const app = await startTestApp(limitsEnv(limits));
      // The memory engine delivers every frame of an ingest before it answers 202: a ping round trip is the barrier.
      const scenario = new AccessScenario({ seed, limits, label: 'memory', nodes: { memory: app }, barrier: 'sync', runId: '' });
      try {
        await scenario.run(steps);
      } finally {
        await app.close();
        if (process.env.ACCESS_VERBOSE) console.log(scenario.coverageReport());
      }
      // The run must have exercised the interesting paths, or it proves little.
      if (isDefaultRun()) expect(scenario.missingCoverage()).toEqual([]);
      expect(scenario.stats.stale).toBeGreaterThan(0);
      expect(scenario.stats.identical).toBeGreaterThan(0);
      expect(scenario.stats.errors).toBeGreaterThan(0);
      expect(scenario.stats.frames).toBeGreaterThan(steps);
    },
    60_000,
  );
});
