import { ProjectMetrics } from '../src/analytics/metrics-shape';
import { formatDemoBanner } from '../src/demo/demo-banner';
import { DemoHandle, startDemo } from '../src/demo/demo-launcher';
import { waitFor } from './helpers/wait-for';
import { TestClient } from './helpers/ws-client';

/** `npm run demo` drives the metrics: the dashboard URLs it prints carry working tokens, and the numbers move. */
describe('npm run demo and the metrics', () => {
  let demo: DemoHandle;
  let client: TestClient | null = null;
  beforeAll(async () => {
    demo = await startDemo({
      port: 0,
      seed: 'demo-metrics',
      eventsPerSecond: 200,
      serviceEnv: { LOG_LEVEL: 'silent', METRICS_INTERVAL_MS: '100' },
    });
  });
  afterAll(async () => {
    client?.close();
    await demo?.stop();
  });

  it('prints a dashboard URL for the owner and one for the agent, whose tokens see what each role may see', async () => {
    const banner = formatDemoBanner(demo);
    const urls = [...banner.matchAll(/http:\/\/localhost:\d+\/dashboard#token=([^&\s]+)&project=(\S+)/g)];
    expect(urls).toHaveLength(2);
    const [owner, agent] = urls.map((m) => ({ token: decodeURIComponent(m[1]!), project: decodeURIComponent(m[2]!) }));
    expect(owner!.project).toBe(demo.projectId);
    const get = async (path: string, token: string) => {
      const res = await fetch(`${demo.running.httpUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect((await get(`/v1/projects/${demo.projectId}/metrics`, owner!.token)).status).toBe(200);
    expect((await get(`/v1/projects/${demo.projectId}/metrics`, agent!.token)).status).toBe(403);
    expect((await get('/v1/me/projects', agent!.token)).body.projects).toEqual([
      expect.objectContaining({ project_id: demo.projectId, role: 'agent', analytics: false }),
    ]);
  });

  it('moves the numbers: the owner sees the queue, the agents and the flow change on /P/metrics', async () => {
    client = await TestClient.connect(demo.wsUrlFor(demo.owner.token));
    const topic = `/${demo.projectId}/metrics`;
    const first = (await client.subscribe(topic)).payload.message as ProjectMetrics;
    expect(first.agents.members).toBe(demo.simulator.agents.length + 2);
    const seen = new Set<string>();
    await waitFor(
      () => {
        for (const fr of client!.topicFrames(topic)) {
          const m = fr.payload.message as ProjectMetrics;
          seen.add(`${m.requests.unassigned}/${m.agents.available}/${m.flow.arrivals_per_hour}`);
        }
        return seen.size >= 5;
      },
      { timeoutMs: 10_000, what: 'five different metrics objects' },
    );
    const last = client.topicFrames(topic).at(-1)!.payload.message as ProjectMetrics;
    expect(last.flow.arrivals_per_hour).toBeGreaterThan(0);
    expect(last.forecast.slots_needed_for_target).toBeGreaterThan(0);
  });
});
