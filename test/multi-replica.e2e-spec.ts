import * as f from './helpers/factories';
import { RedisCluster, RedisServer } from './helpers/redis-server';
import { ReplicaProcess } from './helpers/replica-process';
import { TestClient } from './helpers/ws-client';
import { waitFor } from './helpers/wait-for';

/**
 * Two replicas as separate OS processes on one Redis (and on a 3-master cluster): one shared truth, every
 * event delivered exactly once to every subscriber on every replica, membership effective everywhere.
 */
function multiReplicaSuite(name: string, engineEnv: () => Record<string, string>) {
  describe(name, () => {
    let a: ReplicaProcess;
    let b: ReplicaProcess;
    const clients: TestClient[] = [];
    const connect = async (replica: ReplicaProcess, user: string) => {
      const c = await replica.connect(user);
      clients.push(c);
      return c;
    };

    beforeAll(async () => {
      [a, b] = await Promise.all([ReplicaProcess.start(engineEnv()), ReplicaProcess.start(engineEnv())]);
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      await Promise.all([a?.kill('SIGTERM'), b?.kill('SIGTERM')]);
    });

    it('serves state written through one replica as the snapshot on the other', async () => {
      const P = `mr-snap-${Date.now()}`;
      await a.ingestOk([
        { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
        { type: 'request.create', data: f.request(P, 'r1', { status: 100 }) },
        { type: 'message.create', data: f.message(P, 'r1', { _id: 'm1' }) },
      ]);
      const c = await connect(b, 'owner');
      expect((await c.subscribe(`/${P}/requests`)).payload.message.map((r: any) => r.request_id)).toEqual(['r1']);
      expect((await c.subscribe(`/${P}/requests/r1/messages`)).payload.message.map((m: any) => m._id)).toEqual(['m1']);
    });

    it('delivers an event ingested on either replica exactly once to subscribers on both', async () => {
      const P = `mr-fan-${Date.now()}`;
      await a.ingestOk({ type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') });
      const onA = await connect(a, 'owner');
      const onB = await connect(b, 'owner');
      await onA.subscribe(`/${P}/requests`);
      await onB.subscribe(`/${P}/requests`);
      for (let i = 0; i < 20; i++) {
        const via = i % 2 === 0 ? a : b;
        await via.ingestOk({ type: 'request.create', data: f.request(P, `x${i}`, { status: 100 }) });
      }
      const expected = Array.from({ length: 20 }, (_, i) => `x${i}`);
      for (const c of [onA, onB]) {
        await waitFor(() => c.topicFrames(`/${P}/requests`).length >= 21, { what: '20 live frames' });
        await c.sync();
        expect(
          c
            .topicFrames(`/${P}/requests`)
            .slice(1)
            .map((fr) => fr.payload.message.request_id),
        ).toEqual(expected);
      }
    });

    it('cuts delivery on the other replica at once when a membership is revoked on one', async () => {
      const P = `mr-rev-${Date.now()}`;
      await a.ingestOk([
        { type: 'project_user.create', data: f.projectUser(P, 'ag', 'agent') },
        { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
        { type: 'request.create', data: f.request(P, 'r1', { status: 200, participants: ['ag'] }) },
      ]);
      // An owner on the same replica: once it has the update below, that replica has handled its envelope for everyone.
      const witness = await connect(b, 'owner');
      await witness.subscribe(`/${P}/requests`);
      const c = await connect(b, 'ag');
      await c.subscribe(`/${P}/requests`);
      await c.subscribe(`/${P}/requests/r1`);
      await a.ingestOk({ type: 'project_user.update', data: f.projectUser(P, 'ag', 'agent', { status: 'disabled' }) });
      await waitFor(() => c.frames.filter((fr) => fr.action === 'error' && fr.payload.code === 'forbidden').length === 2, {
        what: 'both subscriptions ended',
      });
      const from = c.frames.length;
      await a.ingestOk({ type: 'request.update', data: f.request(P, 'r1', { status: 200, participants: ['ag'], first_text: 'after' }) });
      await witness.waitFrame((fr) => fr.payload.message?.first_text === 'after', 0, 10_000);
      await c.sync();
      expect(c.dataFrames(from)).toEqual([]);
      expect((await c.subscribe(`/${P}/requests`)).payload.code).toBe('forbidden');
    });

    it('never sends a subscriber a frame its snapshot already holds, while envelopes are in flight from the other replica', async () => {
      const P = `mr-race-${Date.now()}`;
      await b.ingestOk([
        { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
        { type: 'request.create', data: f.request(P, 'r1', { status: 200 }) },
      ]);
      const keep = await connect(a, 'owner');
      await keep.subscribe(`/${P}/requests/r1`);
      let stop = false;
      let n = 0;
      const pump = async () => {
        while (!stop) {
          n += 1;
          await (n % 2 ? b : a).ingestOk({ type: 'message.create', data: f.message(P, 'r1', { _id: `m${String(n).padStart(6, '0')}` }) });
        }
      };
      const pumps = [pump(), pump()];
      const topic = `/${P}/requests/r1/messages`;
      const repeated: string[] = [];
      try {
        for (let i = 0; i < 60; i++) {
          const c = await connect(a, 'owner');
          const snap = await c.subscribe(topic);
          const inSnapshot = new Set<string>((snap.payload.message as any[]).map((m) => m._id));
          await waitFor(() => c.topicFrames(topic).length > 1, { what: 'a live message' });
          await c.sync();
          for (const fr of c.topicFrames(topic).slice(1))
            if (inSnapshot.has(fr.payload.message._id)) repeated.push(`#${i}: ${fr.payload.message._id}`);
          c.close();
        }
      } finally {
        stop = true;
        await Promise.all(pumps);
      }
      expect(repeated).toEqual([]);
    });

    it('keeps the newest version under concurrent updates through both replicas, and never sends a client an older one', async () => {
      const P = `mr-conc-${Date.now()}`;
      await a.ingestOk({ type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') });
      const ids = ['c1', 'c2', 'c3'];
      const base = Date.now();
      const versions = 40;
      const docs: any[] = ids.flatMap((id) =>
        Array.from({ length: versions }, (_, v) =>
          f.request(P, id, { status: 200, v, updatedAt: new Date(base + v * 1000).toISOString(), __v: v }),
        ),
      );
      for (const id of ids) await a.ingestOk({ type: 'request.create', data: docs.find((d) => d.request_id === id && d.v === 0) });
      const watchers = [await connect(a, 'owner'), await connect(b, 'owner')];
      for (const w of watchers) for (const id of ids) await w.subscribe(`/${P}/requests/${id}`);
      // random order, both replicas, in parallel
      const shuffled = docs
        .map((d) => ({ d, k: Math.random() }))
        .sort((x, y) => x.k - y.k)
        .map((x) => x.d);
      await Promise.all(shuffled.map((d, i) => (i % 2 === 0 ? a : b).ingestOk({ type: 'request.update', data: d })));
      for (const id of ids) {
        const fresh = await connect(i2(id) ? a : b, 'owner');
        expect((await fresh.subscribe(`/${P}/requests/${id}`)).payload.message.v).toBe(versions - 1);
      }
      for (const w of watchers) {
        await w.sync();
        for (const id of ids) {
          const seen = w
            .topicFrames(`/${P}/requests/${id}`)
            .filter((fr) => fr.action === 'publish')
            .map((fr) => fr.payload.message?.v);
          for (let k = 1; k < seen.length; k++) expect(seen[k]).toBeGreaterThan(seen[k - 1]);
        }
      }
    });
  });
}

function i2(id: string): boolean {
  return id.charCodeAt(id.length - 1) % 2 === 0;
}

describe('multi-replica', () => {
  let server: RedisServer;
  let cluster: RedisCluster;
  beforeAll(async () => {
    server = await RedisServer.start();
    cluster = await RedisCluster.start();
  });
  afterAll(async () => {
    await server?.stop();
    await cluster?.stop();
  });
  multiReplicaSuite('on one redis-server', () => ({ REDIS_URL: server.url }));
  multiReplicaSuite('on a 3-master Redis Cluster', () => ({ REDIS_CLUSTER_NODES: cluster.nodesEnv }));
});
