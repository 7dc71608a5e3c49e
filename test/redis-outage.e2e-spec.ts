import * as f from './helpers/factories';
import { RedisServer } from './helpers/redis-server';
import { ReplicaProcess } from './helpers/replica-process';
import { INGEST_TOKEN } from './helpers/test-app';
import { Frame, TestClient } from './helpers/ws-client';
import { waitFor, until } from './helpers/wait-for';

/**
 * Redis killed (SIGKILL) and restarted under live traffic, with two replicas as OS processes on one
 * redis-server (issue 3, "Outages"; README "When Redis goes away" / "When Redis comes back empty"): the
 * replicas stay up with their sockets, `/readyz` and HTTP ingest answer 503 with JSON bodies while Redis is
 * away, and once it is back (empty: no persistence) and reloaded, delivery resumes to the clients that
 * stayed connected, on both replicas, with no client action.
 */

interface Answer {
  status: number;
  body: any;
}

/** POST /v1/events that never hangs: a request with no answer within 5 s counts as status 0. */
async function post(replica: ReplicaProcess, body: unknown): Promise<Answer> {
  try {
    const res = await fetch(`${replica.httpUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST_TOKEN}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: kept as text, the assertions say so
    }
    return { status: res.status, body: parsed };
  } catch (err) {
    return { status: 0, body: String(err) };
  }
}

interface Tick extends Answer {
  /** The request the tick created or updated, and the marker its `first_text` carries. */
  requestId: string;
  marker: string;
  sentAt: number;
}

/**
 * A steady stream of single-event ingests alternating between the replicas: even ticks create a request,
 * odd ones update `r1`. Every event carries a unique marker in `first_text`.
 */
class Traffic {
  readonly ticks: Tick[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly projectId: string,
    private readonly replicas: ReplicaProcess[],
    private readonly paceMs = 15,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      const marker = `tick-${this.projectId}-${i}`;
      const requestId = i % 2 === 0 ? `t${i}` : 'r1';
      const type = i % 2 === 0 ? 'request.create' : 'request.update';
      const data = f.request(this.projectId, requestId, { status: 200, first_text: marker });
      const sentAt = Date.now();
      const answer = await post(this.replicas[i % this.replicas.length]!, { type, data });
      this.ticks.push({ ...answer, requestId, marker, sentAt });
      // Pacing of the traffic generator, not a wait for a condition.
      await new Promise((r) => setTimeout(r, this.paceMs));
    }
  }

  async stop(): Promise<Tick[]> {
    this.stopped = true;
    await this.loop;
    return this.ticks;
  }
}

const requestsTopic = (p: string) => `/${p}/requests`;
const requestTopic = (p: string, r: string) => `/${p}/requests/${r}`;

/** A live frame (a single document, not a snapshot array) of a topic with a method. */
const isLive = (fr: Frame, topic: string, method: string) =>
  fr.action === 'publish' && fr.payload.topic === topic && fr.payload.method === method && !Array.isArray(fr.payload.message);

/** The request list a client holds after these frames of a T1 topic: snapshots replace it, live frames edit it. */
function listView(frames: Frame[], topic: string): Map<string, any> {
  const view = new Map<string, any>();
  for (const fr of frames) {
    if (fr.action !== 'publish' || fr.payload.topic !== topic) continue;
    const m = fr.payload.message;
    if (Array.isArray(m)) {
      view.clear();
      for (const r of m) view.set(r.request_id, r);
    } else if (fr.payload.method === 'DELETE') {
      view.delete(m.request_id);
    } else {
      view.set(m.request_id, m);
    }
  }
  return view;
}

/** One line per frame, to say in a failure what a client received. */
const summary = (frames: Frame[]) =>
  frames
    .map((fr) => {
      const m = fr.payload.message;
      const what = Array.isArray(m) ? `[${m.map((x: any) => x.request_id).join(',')}]` : (m?.request_id ?? fr.payload.code ?? '');
      return `${fr.action} ${fr.payload.method ?? ''} ${fr.payload.topic ?? ''} ${what}`;
    })
    .join('\n  ');

/** waitFor on a client's frames since an index; a timeout lists the frames it got instead. */
async function waitForFrames(c: TestClient, from: number, check: (frames: Frame[]) => boolean, what: string): Promise<void> {
  try {
    await waitFor(() => check(c.frames.slice(from)), { what, timeoutMs: 10_000 });
  } catch {
    throw new Error(`timed out waiting for ${what}; frames received since:\n  ${summary(c.frames.slice(from))}`);
  }
}

/** Everything a client received, as text, to look for markers of events that must not have been applied. */
const received = (c: TestClient) => c.raw.join('\n');

describe('Redis outage with two replicas', () => {
  let server: RedisServer;
  let a: ReplicaProcess;
  let b: ReplicaProcess;
  const clients: TestClient[] = [];
  const connect = async (replica: ReplicaProcess, user: string) => {
    const c = await replica.connect(user);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await RedisServer.start();
    [a, b] = await Promise.all([ReplicaProcess.start({ REDIS_URL: server.url }), ReplicaProcess.start({ REDIS_URL: server.url })]);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([a?.kill(), b?.kill()]);
    await server?.stop();
  });

  /** Both replicas answer /readyz 200 again (Redis reachable, bus resubscribed, stream consumer running). */
  const bothReady = () =>
    until(async () => (await a.readyz()).status === 200 && (await b.readyz()).status === 200, 'both replicas ready', 15_000);

  it('keeps replicas and sockets up, answers 503 while Redis is away, and resumes delivery on both replicas after an empty restart', async () => {
    const P = `out-live-${Date.now()}`;
    const seed = () => [
      { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
      { type: 'request.create', data: f.request(P, 'r1', { status: 200, first_text: 'seed' }) },
    ];
    await a.ingestOk(seed());
    const onA = await connect(a, 'owner');
    const onB = await connect(b, 'owner');
    for (const c of [onA, onB]) {
      expect((await c.subscribe(requestsTopic(P))).payload.message.map((r: any) => r.request_id)).toEqual(['r1']);
      expect((await c.subscribe(requestTopic(P, 'r1'))).payload.message.request_id).toBe('r1');
    }

    // Live traffic through both replicas reaches both clients.
    const traffic = new Traffic(P, [a, b]);
    for (const c of [onA, onB]) {
      await waitFor(() => c.topicFrames(requestsTopic(P)).length >= 6 && c.topicFrames(requestTopic(P, 'r1')).length >= 4, {
        what: 'live frames before the outage',
        timeoutMs: 10_000,
      });
    }

    await server.kill();
    const killedAt = Date.now();

    // /readyz turns 503 on both replicas, with a JSON body naming what is not ready.
    for (const r of [a, b]) {
      const answer = await until(async () => {
        const x = await r.readyz();
        return x.status === 503 && x.body?.error?.checks?.redis === false ? x : null;
      }, `/readyz 503 naming redis on ${r.port}`);
      expect(answer.body.error).toMatchObject({ code: 'unavailable', checks: { redis: false } });
      expect(answer.body.error.message).toMatch(/redis/);
      expect(Object.values(answer.body.error.checks).every((v) => typeof v === 'boolean')).toBe(true);
    }
    const outageSeenAt = Date.now();

    // The traffic goes on and is refused with 503 + JSON while Redis is away.
    await waitFor(() => traffic.ticks.filter((t) => t.sentAt >= outageSeenAt).length >= 6, {
      what: 'ingests during the outage',
      timeoutMs: 10_000,
    });
    const batch = await post(b, [
      { type: 'request.create', data: f.request(P, 'lost-1', { status: 200, first_text: `lost-${P}-1` }) },
      { type: 'request.create', data: f.request(P, 'lost-2', { status: 200, first_text: `lost-${P}-2` }) },
    ]);
    expect(batch.status).toBe(503);
    expect(batch.body.error).toMatchObject({ code: 'unavailable' });

    // No replica exited; the sockets are open and answer pings; liveness holds.
    expect([a.exited, b.exited]).toEqual([false, false]);
    for (const c of [onA, onB]) {
      await c.sync();
      expect(c.closeInfo).toBeNull();
    }
    for (const r of [a, b]) expect((await fetch(`${r.httpUrl}/healthz`)).status).toBe(200);

    const ticks = await traffic.stop();
    // Every ingest was answered (none hung), with 202 or with 503 + a JSON `unavailable` body.
    for (const t of ticks) {
      expect([202, 503]).toContain(t.status);
      if (t.status === 503) expect(t.body.error).toMatchObject({ code: 'unavailable' });
    }
    expect(ticks.filter((t) => t.sentAt >= outageSeenAt).every((t) => t.status === 503)).toBe(true);
    expect(ticks.some((t) => t.status === 202 && t.sentAt < killedAt)).toBe(true);

    // No subscription was ended by the outage itself.
    for (const c of [onA, onB]) expect(c.frames.filter((fr) => fr.action === 'error')).toEqual([]);

    // Redis comes back on the same port, empty. The replicas become ready again without a restart.
    const relaunchFrom = [onA.frames.length, onB.frames.length];
    await server.launch();
    await bothReady();
    expect([a.exited, b.exited]).toEqual([false, false]);

    // The documented reload after an empty restart, then traffic through either replica.
    await a.ingestOk(seed());
    await b.ingestOk({ type: 'request.create', data: f.request(P, 'after-1', { status: 200, first_text: 'after' }) });
    await a.ingestOk({ type: 'request.update', data: f.request(P, 'r1', { status: 200, first_text: 'updated after' }) });
    const caughtUp = (frames: Frame[]) => {
      const view = listView(frames, requestsTopic(P));
      return view.get('after-1') !== undefined && view.get('r1')?.first_text === 'updated after';
    };
    for (const [i, c] of [onA, onB].entries()) await waitForFrames(c, relaunchFrom[i]!, caughtUp, `the reloaded list on client ${i}`);
    // Live frames again: a request created now reaches both clients as a live CREATE.
    await b.ingestOk({ type: 'request.create', data: f.request(P, 'after-2', { status: 200 }) });
    for (const [i, c] of [onA, onB].entries()) {
      const after2 = (fr: Frame) => isLive(fr, requestsTopic(P), 'CREATE') && fr.payload.message.request_id === 'after-2';
      await waitForFrames(c, relaunchFrom[i]!, (frames) => frames.some(after2), `after-2 live on client ${i}`);
      await c.sync();
      const since = c.frames.slice(relaunchFrom[i]);
      const list = since.filter((fr) => fr.payload.topic === requestsTopic(P));
      // The list was resynchronized with a fresh snapshot, never ended; no subscription failed for lack of Redis.
      expect(list.filter((fr) => fr.action === 'error')).toEqual([]);
      expect(since.filter((fr) => fr.action === 'error' && fr.payload.code === 'internal')).toEqual([]);
      expect(list.some((fr) => fr.action === 'publish' && fr.payload.method === 'CREATE' && Array.isArray(fr.payload.message))).toBe(true);
      const view = listView(since, requestsTopic(P));
      expect([...view.keys()].sort()).toEqual(['after-1', 'after-2', 'r1']);
      expect(c.closeInfo).toBeNull();
    }

    // Nothing refused during the outage was applied later: a fresh subscriber sees the reloaded state only,
    // and no client ever got a frame of a refused event.
    const fresh = await connect(b, 'owner');
    const snapshot = (await fresh.subscribe(requestsTopic(P))).payload.message as any[];
    expect(snapshot.map((r) => r.request_id).sort()).toEqual(['after-1', 'after-2', 'r1']);
    const refused = [...ticks.filter((t) => t.status === 503).map((t) => t.marker), `lost-${P}-1`, `lost-${P}-2`];
    for (const c of [onA, onB, fresh]) for (const m of refused) expect(received(c)).not.toContain(`"${m}"`);
  }, 60_000);

  it('delivers again on both replicas after Redis was killed and relaunched with no traffic meanwhile', async () => {
    const P = `out-quiet-${Date.now()}`;
    const member = () => ({ type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') });
    await b.ingestOk(member());
    const onA = await connect(a, 'owner');
    const onB = await connect(b, 'owner');
    for (const c of [onA, onB]) expect((await c.subscribe(requestsTopic(P))).payload.message).toEqual([]);

    await server.kill();
    await until(async () => (await a.readyz()).status === 503 && (await b.readyz()).status === 503, 'both replicas unready');
    const from = [onA.frames.length, onB.frames.length];
    await server.launch();
    await bothReady();

    // Reload the member (Redis came back empty), then one ingest.
    await a.ingestOk(member());
    await b.ingestOk({ type: 'request.create', data: f.request(P, 'q1', { status: 200 }) });
    for (const [i, c] of [onA, onB].entries()) {
      await waitForFrames(c, from[i]!, (frames) => listView(frames, requestsTopic(P)).has('q1'), `q1 on client ${i}`);
      await c.sync();
      expect(c.frames.slice(from[i]).filter((fr) => fr.action === 'error')).toEqual([]);
      expect(c.closeInfo).toBeNull();
    }
    expect([a.exited, b.exited]).toEqual([false, false]);
  }, 60_000);
});
