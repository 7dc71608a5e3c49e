import { stripTimes } from '../src/analytics/metrics.contract';
import { ProjectMetrics } from '../src/analytics/metrics-shape';
import * as f from './helpers/factories';
import { RedisServer } from './helpers/redis-server';
import { ReplicaProcess } from './helpers/replica-process';
import { TestApp, startTestApp } from './helpers/test-app';
import { userToken } from './helpers/tokens';
import { Frame, TestClient } from './helpers/ws-client';
import { until, waitFor } from './helpers/wait-for';

/** T8 `/P/metrics` and the HTTP endpoints, as a dashboard or a polling tool sees them. */

const INTERVAL_MS = 300;

async function getJson(url: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
}

function updates(c: TestClient, topic: string): Frame[] {
  return c.topicFrames(topic).filter((fr) => fr.action === 'publish' && fr.payload.method === 'UPDATE');
}

describe('metrics on one replica (memory engine)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ METRICS_INTERVAL_MS: String(INTERVAL_MS), METRICS_WINDOW_S: '60' });
  });
  afterAll(() => app.close());

  async function project(P: string) {
    await app.ingestOk([
      { type: 'project.update', data: f.project(P, { settings: { max_agent_assigned_chat: 2 } }) },
      { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
      { type: 'project_user.create', data: f.projectUser(P, 'sup', 'supervisor', { user_available: false }) },
      { type: 'project_user.create', data: f.projectUser(P, 'agent', 'agent') },
      { type: 'project_user.create', data: f.projectUser(P, 'analyst', 'agent', { permissions: ['analytics_read'] }) },
    ]);
  }

  it('sends the object as the snapshot, then UPDATEs at most every METRICS_INTERVAL_MS while things change', async () => {
    const P = `mx-live-${Date.now()}`;
    await project(P);
    const c = await app.connect('owner');
    const topic = `/${P}/metrics`;
    const snap = (await c.subscribe(topic)).payload.message as ProjectMetrics;
    expect(snap).toMatchObject({
      project_id: P,
      window_s: 60,
      requests: { open: 0, unassigned: 0, oldest_wait_s: null },
      agents: { members: 4, available: 3, unavailable: 1, busy: 0 },
      capacity: { slots_total: 6, slots_used: 0, slots_free: 6, utilization: 0 },
    });

    // A burst of 12 arrivals: the subscriber sees the final numbers, in fewer frames than events, spaced by the interval.
    for (let i = 0; i < 12; i++) await app.ingestOk({ type: 'request.create', data: f.request(P, `r${i}`, { status: 100 }) });
    const last = await waitFor(() => updates(c, topic).find((fr) => fr.payload.message.requests.unassigned === 12), {
      what: 'an UPDATE with the 12 waiting requests',
    });
    const frames = updates(c, topic);
    expect(frames.length).toBeLessThan(12);
    const times = frames.map((fr) => Date.parse(fr.payload.message.generated_at));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(INTERVAL_MS - 5);
    expect(last.payload.message.requests).toMatchObject({ open: 12, unassigned: 12 });
    expect(last.payload.message.requests.oldest_wait_s).toBeGreaterThan(0);

    // HTTP gives the same numbers.
    const http = await getJson(`${app.httpUrl}/v1/projects/${P}/metrics`, userToken('owner'));
    expect(http.status).toBe(200);
    expect(stripTimes(http.body)).toEqual(stripTimes(last.payload.message));

    // An event the metrics do not depend on sends nothing (ages tick in the page, not on the wire): the next
    // UPDATE is the one of the next request.
    const before = updates(c, topic).length;
    await app.ingestOk({ type: 'event.emit', data: f.event(P, 'pu-x', 'ping') });
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'r12', { status: 100 }) });
    await waitFor(() => updates(c, topic).find((fr) => fr.payload.message.requests.unassigned === 13), { what: 'the 13th request' });
    expect(updates(c, topic).length).toBe(before + 1);
  });

  it('re-publishes when an arrival leaves the window, with no event at all', async () => {
    const P = `mx-window-${Date.now()}`;
    await project(P);
    // Created 59.4 s ago: inside the 60 s window for a little more than half a second.
    const createdAt = new Date(Date.now() - 59_400).toISOString();
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'old', { status: 200, createdAt }) });
    const c = await app.connect('owner');
    const topic = `/${P}/metrics`;
    const snap = (await c.subscribe(topic)).payload.message as ProjectMetrics;
    expect(snap.flow.arrivals_per_hour).toBe(60);
    const dropped = await waitFor(() => updates(c, topic).find((fr) => fr.payload.message.flow.arrivals_per_hour === 0), {
      what: 'an UPDATE once the arrival left the window',
    });
    expect(dropped.payload.message.requests.open).toBe(1);
  });

  it('lets owner, admin, supervisor and analytics_read see the metrics; an agent gets forbidden on the topic and 403 over HTTP', async () => {
    const P = `mx-access-${Date.now()}`;
    await project(P);
    for (const user of ['owner', 'sup', 'analyst']) {
      const c = await app.connect(user);
      expect((await c.subscribe(`/${P}/metrics`)).payload.method).toBe('CREATE');
      expect((await getJson(`${app.httpUrl}/v1/projects/${P}/metrics`, userToken(user))).status).toBe(200);
    }
    const agent = await app.connect('agent');
    const refused = await agent.subscribe(`/${P}/metrics`);
    expect(refused).toMatchObject({ action: 'error', payload: { topic: `/${P}/metrics`, code: 'forbidden' } });
    const http = await getJson(`${app.httpUrl}/v1/projects/${P}/metrics`, userToken('agent'));
    expect(http).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    // A stranger and a bad token.
    expect((await getJson(`${app.httpUrl}/v1/projects/${P}/metrics`, userToken('nobody'))).status).toBe(403);
    const bad = await getJson(`${app.httpUrl}/v1/projects/${P}/metrics`, 'not-a-jwt');
    expect(bad).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    expect((await getJson(`${app.httpUrl}/v1/projects/${P}/metrics`)).status).toBe(401);
  });

  it('ends the subscription of a member whose role no longer allows it', async () => {
    const P = `mx-demote-${Date.now()}`;
    await project(P);
    const c = await app.connect('sup');
    const owner = await app.connect('owner');
    await c.subscribe(`/${P}/metrics`);
    await owner.subscribe(`/${P}/metrics`);
    await app.ingestOk({ type: 'project_user.update', data: f.projectUser(P, 'sup', 'agent', { user_available: false }) });
    const ended = await c.waitFrame((fr) => fr.action === 'error' && fr.payload.topic === `/${P}/metrics`);
    expect(ended.payload.code).toBe('forbidden');
    // Nothing more arrives on it: the owner's UPDATE with the next request is sent to every watcher at once.
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'after', { status: 100 }) });
    await waitFor(() => updates(owner, `/${P}/metrics`).find((fr) => fr.payload.message.requests.open === 1), {
      what: "the owner's UPDATE",
    });
    await c.sync();
    expect(updates(c, `/${P}/metrics`)).toHaveLength(0);
  });

  it('GET /v1/me/projects lists the projects the user is an active member of, with the role and the analytics right', async () => {
    const u = `me-${Date.now()}`;
    const [A, B, C, D] = ['a', 'b', 'c', 'd'].map((x) => `${u}-${x}`);
    await app.ingestOk([
      { type: 'project.update', data: f.project(A!, { name: 'Alpha' }) },
      { type: 'project_user.create', data: f.projectUser(A!, u, 'agent') },
      { type: 'project.update', data: f.project(B!, { name: 'Beta' }) },
      { type: 'project_user.create', data: f.projectUser(B!, u, 'owner') },
      { type: 'project_user.create', data: f.projectUser(C!, u, 'agent', { status: 'disabled' }) },
      { type: 'project.update', data: f.project(D!, { name: 'Delta', status: 0 }) },
      { type: 'project_user.create', data: f.projectUser(D!, u, 'owner') },
    ]);
    const res = await getJson(`${app.httpUrl}/v1/me/projects`, userToken(u));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      user_id: u,
      projects: [
        { project_id: A, name: 'Alpha', role: 'agent', project_user_id: `pu-${A}-${u}`, analytics: false },
        { project_id: B, name: 'Beta', role: 'owner', project_user_id: `pu-${B}-${u}`, analytics: true },
      ],
    });
    expect((await getJson(`${app.httpUrl}/v1/me/projects`, userToken(`${u}-stranger`))).body.projects).toEqual([]);
    expect((await getJson(`${app.httpUrl}/v1/me/projects`)).status).toBe(401);
  });
});

describe('API_RATE_PER_S on the read endpoints', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ API_RATE_PER_S: '3' });
  });
  afterAll(() => app.close());

  it('answers 429 with the limit named past API_RATE_PER_S requests per second of one token; other tokens and ingest are not held back', async () => {
    const P = `mx-rate-${Date.now()}`;
    await app.ingestOk({ type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') });
    const token = userToken('owner');
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await getJson(`${app.httpUrl}/v1/projects/${P}/metrics`, token));
    expect(answers.slice(0, 3).map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers[3]).toMatchObject({
      status: 429,
      body: { error: { code: 'rate_limited', limit: 3, window_s: 1, message: expect.stringContaining('API_RATE_PER_S') } },
    });
    // Same limit for the project list, counted together with the metrics for that token.
    expect((await getJson(`${app.httpUrl}/v1/me/projects`, token)).status).toBe(429);
    expect((await getJson(`${app.httpUrl}/v1/me/projects`, userToken('someone-else'))).status).toBe(200);
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'r1', { status: 100 }) });
  });
});

describe('metrics on two replica processes sharing one Redis', () => {
  let redis: RedisServer;
  let a: ReplicaProcess;
  let b: ReplicaProcess;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = { REDIS_URL: redis.url, METRICS_INTERVAL_MS: String(INTERVAL_MS) };
    [a, b] = await Promise.all([ReplicaProcess.start(env), ReplicaProcess.start(env)]);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([a?.kill('SIGTERM'), b?.kill('SIGTERM')]);
    await redis?.stop();
  });

  it('gives the same object from both replicas, over the topic and over HTTP', async () => {
    const P = `mx-rep-${Date.now()}`;
    await a.ingestOk([
      { type: 'project.update', data: f.project(P) },
      { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
      { type: 'project_user.create', data: f.projectUser(P, 'ag1', 'agent', { number_assigned_requests: 2 }) },
    ]);
    const onA = await a.connect('owner');
    const onB = await b.connect('owner');
    clients.push(onA, onB);
    const topic = `/${P}/metrics`;
    await onA.subscribe(topic);
    await onB.subscribe(topic);
    for (let i = 0; i < 10; i++) {
      const via = i % 2 === 0 ? a : b;
      await via.ingestOk({ type: 'request.create', data: f.request(P, `q${i}`, { status: i < 6 ? 100 : 200 }) });
    }
    await b.ingestOk({ type: 'request.update', data: f.request(P, 'q7', { status: 1000, first_response_at: f.nextTime() }) });
    const final = (c: TestClient) =>
      waitFor(
        () => updates(c, topic).find((fr) => fr.payload.message.flow.closures_per_hour > 0 && fr.payload.message.requests.open === 9),
        {
          what: 'the final object',
        },
      );
    const [fa, fb] = await Promise.all([final(onA), final(onB)]);
    expect(stripTimes(fa.payload.message)).toEqual(stripTimes(fb.payload.message));
    expect(fa.payload.message.requests).toMatchObject({ open: 9, unassigned: 6, assigned: 3 });

    const [ha, hb] = await until(async () => {
      const both = await Promise.all([a, b].map((r) => getJson(`http://127.0.0.1:${r.port}/v1/projects/${P}/metrics`, userToken('owner'))));
      return both.every((h) => h.status === 200) ? both : null;
    }, 'both replicas to answer');
    expect(stripTimes(ha!.body)).toEqual(stripTimes(hb!.body));
    expect(stripTimes(ha!.body)).toEqual(stripTimes(fa.payload.message));
    // The membership lookup reads the shared projects too.
    const mine = await getJson(`http://127.0.0.1:${b.port}/v1/me/projects`, userToken('ag1'));
    expect(mine.body.projects).toContainEqual({
      project_id: P,
      name: `Project ${P}`,
      role: 'agent',
      project_user_id: `pu-${P}-ag1`,
      analytics: false,
    });
    // The same clock (Redis TIME) on both: two reads a moment apart are a moment apart.
    expect(Math.abs(Date.parse(ha!.body.generated_at) - Date.parse(hb!.body.generated_at))).toBeLessThan(5000);
  });
});
