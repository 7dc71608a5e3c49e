import * as f from '../helpers/factories';
import { RedisServer } from '../helpers/redis-server';
import { ReplicaProcess } from '../helpers/replica-process';
import { startTestApp, TestApp } from '../helpers/test-app';
import { TestClient } from '../helpers/ws-client';

/**
 * A late update that arrives after a delete must not bring the document back (README "Tombstones"), on the memory
 * engine, and on Redis when the delete and the late update reach different replicas.
 */

jest.setTimeout(60_000);

const past = (msAgo: number, from = Date.now()) => new Date(from - msAgo).toISOString();
const future = (msAhead: number) => new Date(Date.now() + msAhead).toISOString();

interface Node {
  ingestOk(body: unknown): Promise<any>;
  connect(userId: string): Promise<TestClient>;
}

/** The same story on any pair of nodes: `a` takes the delete, `b` the late updates. */
async function story(a: Node, b: Node, p: string): Promise<void> {
  await a.ingestOk([
    { type: 'project.update', data: f.project(p) },
    { type: 'project_user.create', data: f.projectUser(p, 'owner', 'owner') },
    { type: 'project_user.create', data: f.projectUser(p, 'agent', 'agent', { updatedAt: past(60_000) }) },
    { type: 'request.create', data: f.request(p, 'r1', { _id: `oid-${p}-r1`, status: 100, updatedAt: past(60_000) }) },
  ]);
  const watchA = await a.connect('owner');
  const watchB = await b.connect('owner');
  for (const w of [watchA, watchB]) {
    expect((await w.subscribe(`/${p}/requests`)).payload.message.map((r: any) => r.request_id)).toEqual(['r1']);
    expect((await w.subscribe(`/${p}/project_users/users/agent`)).payload.message).toMatchObject({ id_user: 'agent' });
  }
  // Late updates are dated from before the delete was sent, however long the steps in between take.
  const deletedAt = Date.now();
  await a.ingestOk([
    { type: 'request.delete', data: { request_id: 'r1', id_project: p } },
    { type: 'project_user.delete', data: { _id: `pu-${p}-agent`, id_project: p } },
  ]);
  for (const w of [watchA, watchB]) {
    await w.waitFrame((fr) => fr.payload.topic === `/${p}/requests` && fr.payload.method === 'DELETE');
    await w.waitFrame((fr) => fr.payload.topic === `/${p}/project_users/users/agent` && fr.payload.method === 'DELETE');
  }
  const mark = [watchA.frames.length, watchB.frames.length];

  // Late updates dated before the delete, by request_id, by _id, and the membership: all stale, nothing published.
  const late = await b.ingestOk([
    {
      type: 'request.update',
      data: f.request(p, 'r1', { _id: `oid-${p}-r1`, status: 200, participants: ['agent'], updatedAt: past(1000, deletedAt) }),
    },
    { type: 'request.update', data: f.request(p, 'r1-renamed', { _id: `oid-${p}-r1`, status: 200, updatedAt: past(1000, deletedAt) }) },
    { type: 'project_user.update', data: f.projectUser(p, 'agent', 'agent', { updatedAt: past(1000, deletedAt) }) },
  ]);
  expect(late).toEqual({ accepted: 0, duplicates: 0, stale: 3 });
  const agent = await b.connect('agent');
  expect((await agent.subscribe(`/${p}/requests`)).payload.code).toBe('forbidden'); // the membership stayed deleted
  for (const w of [watchA, watchB]) {
    await w.sync();
    expect(w.dataFrames(mark[w === watchA ? 0 : 1])).toEqual([]);
  }
  const fresh = await a.connect('owner');
  expect((await fresh.subscribe(`/${p}/requests`)).payload.message).toEqual([]);

  // A real re-create, dated after the delete, is applied everywhere.
  await b.ingestOk({ type: 'request.create', data: f.request(p, 'r1', { _id: `oid-${p}-r1`, status: 100, updatedAt: future(1000) }) });
  for (const w of [watchA, watchB]) {
    await w.waitFrame(
      (fr) => fr.payload.topic === `/${p}/requests` && fr.payload.method === 'CREATE' && fr.payload.message.request_id === 'r1',
    );
  }
}

describe('delete tombstones', () => {
  it('memory engine: a late older update after a delete is stale', async () => {
    const app: TestApp = await startTestApp();
    try {
      await story(app, app, 'tomb-mem');
    } finally {
      await app.close();
    }
  });

  describe('redis engine, two replicas', () => {
    let redis: RedisServer;
    let replicas: ReplicaProcess[] = [];
    const clients: TestClient[] = [];
    beforeAll(async () => {
      redis = await RedisServer.start();
      replicas = await Promise.all([ReplicaProcess.start({ REDIS_URL: redis.url }), ReplicaProcess.start({ REDIS_URL: redis.url })]);
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      await Promise.all(replicas.map((r) => r.kill('SIGTERM')));
      await redis.stop();
    });

    it('the delete on one replica keeps the late update on the other out', async () => {
      const node = (r: ReplicaProcess): Node => ({
        ingestOk: (body) => r.ingestOk(body),
        connect: async (u) => {
          const c = await r.connect(u);
          clients.push(c);
          return c;
        },
      });
      await story(node(replicas[0]!), node(replicas[1]!), 'tomb-redis');
    });
  });
});
