/**
 * The randomized access test (access-model.e2e-spec.ts) with its clients spread over two replicas: separate
 * OS processes (the compiled dist/main.js) sharing one real redis-server. Connections alternate between the
 * replicas, the two connections of u1 and of u4 are on different replicas, ingest goes to either replica
 * (chosen by the seed), and every client must receive exactly the frames the same model predicts, per topic.
 *
 * On Redis a frame reaches the other replica through pub/sub after the 202, so a ping round trip alone proves
 * nothing: each check uses the 'fence' barrier (see AccessScenarioOptions.barrier in helpers/access-model.ts).
 *
 * ACCESS_SEED=<n>[,<n>...] replays given seeds (the same scenario as on the memory engine); ACCESS_STEPS=<n>
 * changes the number of random steps; ACCESS_VERBOSE=1 prints the coverage. Run `npm run build` first.
 */
import { AccessScenario, isDefaultRun, limitsEnv, limitsFor, seedsFromEnv, stepsFromEnv } from './helpers/access-model';
import { RedisServer } from './helpers/redis-server';
import { ReplicaProcess } from './helpers/replica-process';

// Odd: small history limits, so that the capped Redis structures (T1, T3, T6) are exercised.
const DEFAULT_SEEDS = [20261125];
const DEFAULT_STEPS = 400;

describe('randomized access model (two replicas on one Redis)', () => {
  const seeds = seedsFromEnv(DEFAULT_SEEDS);
  const steps = stepsFromEnv(DEFAULT_STEPS);
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it.each(seeds)(
    'seed %i: every client on either replica receives exactly the frames the model predicts',
    async (seed) => {
      const limits = limitsFor(seed);
      const env = { REDIS_URL: redis.url, ...limitsEnv(limits) };
      const replicas = await startReplicas(env);
      const [a, b] = replicas;
      // Per-run ids: other runs on the same server (a re-run, another seed) never meet these projects.
      const runId = `${Date.now().toString(36)}${seed.toString(36)}`;
      const scenario = new AccessScenario({
        seed,
        limits,
        label: 'two replicas on one redis-server',
        nodes: { [`replica-a:${a.port}`]: a, [`replica-b:${b.port}`]: b },
        barrier: 'fence',
        runId,
      });
      let crashed: number[] = [];
      try {
        await scenario.run(steps);
      } catch (err) {
        // A replica that died explains everything that follows: say so, with its output.
        const dead = replicas.filter((r) => r.exited).map((r) => `replica on ${r.port} exited: ${r.output.join('').slice(-3000)}`);
        if (dead.length > 0 && err instanceof Error) err.message = `${err.message}\n${dead.join('\n')}`;
        throw err;
      } finally {
        scenario.close();
        crashed = replicas.filter((r) => r.exited).map((r) => r.port);
        await Promise.all(replicas.map((r) => r.kill('SIGTERM')));
        if (process.env.ACCESS_VERBOSE) console.log(scenario.coverageReport());
      }
      expect(crashed).toEqual([]);
      if (isDefaultRun()) expect(scenario.missingCoverage()).toEqual([]);
      expect(scenario.stats.stale).toBeGreaterThan(0);
      expect(scenario.stats.identical).toBeGreaterThan(0);
      expect(scenario.stats.errors).toBeGreaterThan(0);
      expect(scenario.stats.frames).toBeGreaterThan(steps);
      // The barrier ran: a fence event per enabled project at every check.
      expect(scenario.stats.fences).toBeGreaterThan(steps);
    },
    60_000,
  );
});

/** Two replicas started together; if one cannot start, the other is stopped before the error is thrown. */
async function startReplicas(env: Record<string, string>): Promise<[ReplicaProcess, ReplicaProcess]> {
  const started = await Promise.allSettled([ReplicaProcess.start(env), ReplicaProcess.start(env)]);
  const [a, b] = started;
  if (a.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, b.value];
  for (const r of started) if (r.status === 'fulfilled') await r.value.kill('SIGTERM');
  throw (a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason) as Error;
}
