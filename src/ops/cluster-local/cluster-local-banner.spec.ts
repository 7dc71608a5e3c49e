import { validateEnvelope } from '../../ingest/event-validation';
import { signUserToken } from '../../demo/demo-tokens';
import { CLUSTER_OWNER, CLUSTER_PROJECT_ID, ClusterBannerInput, formatClusterBanner } from './cluster-local-banner';

const AT = new Date('2026-12-01T10:00:00.000Z');

function input(overrides: Partial<ClusterBannerInput> = {}): ClusterBannerInput {
  return {
    httpsUrl: 'https://127.0.0.1:8443',
    wssUrl: 'wss://127.0.0.1:8443/',
    certFile: '/tmp/rt-cluster-local-x/realtime.crt',
    configFile: '/repo/deploy/proxy/haproxy.cfg',
    ingestToken: 'the-ingest-token',
    redisUrl: 'redis://127.0.0.1:6390',
    proxyPid: 11,
    replicas: [
      { name: 'realtime-1', port: 40001, pid: 12 },
      { name: 'realtime-2', port: 40002, pid: 13 },
    ],
    drainMs: 10_000,
    projectId: CLUSTER_PROJECT_ID,
    owner: { name: 'Local Owner', projectUserId: `pu-${CLUSTER_PROJECT_ID}-owner`, token: signUserToken(CLUSTER_OWNER, 'secret') },
    ...overrides,
  };
}

/** The JSON bodies of the printed curl commands. */
function curlBodies(banner: string): unknown[] {
  return [...banner.matchAll(/ -d '([^']+)'/g)].map((m) => JSON.parse(m[1]!));
}

describe('formatClusterBanner', () => {
  it('prints curls the service accepts, going through the proxy with its certificate and the ingest token', () => {
    const banner = formatClusterBanner(input(), AT);
    const bodies = curlBodies(banner);
    expect(bodies.map((b: any) => b.type)).toEqual(['project_user.create', 'request.create']);
    bodies.forEach((b, i) => expect(() => validateEnvelope(b, i, { maxEventBytes: 262_144 })).not.toThrow());
    for (const line of banner.split('\n').filter((l) => l.includes('curl '))) {
      expect(line).toContain('--cacert /tmp/rt-cluster-local-x/realtime.crt');
      expect(line).toContain('https://127.0.0.1:8443/v1/events');
      expect(line).toContain("'Authorization: Bearer the-ingest-token'");
    }
  });

  it("makes the token's user the owner of the project the watch command subscribes to", () => {
    const given = input();
    const banner = formatClusterBanner(given, AT);
    const membership = curlBodies(banner)[0] as { data: { id_user: string; id_project: string; role: string } };
    const token = given.owner.token;
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { _id: string };
    expect(membership.data).toMatchObject({ id_user: claims._id, id_project: CLUSTER_PROJECT_ID, role: 'owner' });
    expect(banner).toContain(`wss://127.0.0.1:8443/?token=JWT%20${token}`);
    expect(banner).toContain(
      `NODE_EXTRA_CA_CERTS=/tmp/rt-cluster-local-x/realtime.crt npm run watch -- --topic /${CLUSTER_PROJECT_ID}/requests --token ${token} --url wss://127.0.0.1:8443/`,
    );
  });

  it('with --demo, shows the dashboards of the owner and the agent through the proxy', () => {
    const agent = { name: 'Alice Agent', projectUserId: 'pu-a', token: 'agent.jwt.token' };
    const banner = formatClusterBanner(
      input({ projectId: 'p1', demo: { eventsPerSecond: 4, seed: '42', agent, metricsWindowS: '60', targetAnswerS: '10' } }),
      AT,
    );
    expect(banner).toContain('https://127.0.0.1:8443/dashboard#token=agent.jwt.token&project=p1');
    expect(banner).toContain('seed 42');
    const [emit] = curlBodies(banner);
    expect(() => validateEnvelope(emit, 0, { maxEventBytes: 262_144 })).not.toThrow();
  });
});
