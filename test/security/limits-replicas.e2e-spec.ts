import Redis from 'ioredis';
import * as f from '../helpers/factories';
import { RedisServer } from '../helpers/redis-server';
import { ReplicaProcess } from '../helpers/replica-process';
import { userToken } from '../helpers/tokens';
import { until, waitFor } from '../helpers/wait-for';
import { HandshakeRefused, TestClient } from '../helpers/ws-client';

/**
 * Limits shared by two replica processes on one real Redis: floods spread over both replicas meet one exact
 * limit, and no place leaks, through thousands of connect/close cycles or a replica killed with SIGKILL.
 */

jest.setTimeout(90_000);

let redis: RedisServer;
let probe: Redis;
beforeAll(async () => {
  redis = await RedisServer.start();
  probe = new Redis(redis.url);
});
afterAll(async () => {
  probe.disconnect();
  await redis.stop();
});

const replicas: ReplicaProcess[] = [];
const afterThis: Array<() => void> = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const fn of afterThis.splice(0)) fn();
  for (const c of clients.splice(0)) c.close();
  await Promise.all(replicas.splice(0).map((r) => r.kill('SIGTERM')));
  await probe.flushall();
});

async function startPair(env: Record<string, string>, envB: Record<string, string> = {}): Promise<[ReplicaProcess, ReplicaProcess]> {
  const common = { REDIS_URL: redis.url, ...env };
  const pair = await Promise.all([ReplicaProcess.start(common), ReplicaProcess.start({ ...common, ...envB })]);
  replicas.push(...pair);
  return pair;
}

/** Connects; resolves with the client, or with the refusal's status and parsed body. */
async function attempt(r: ReplicaProcess, userId: string): Promise<TestClient | { status: number; body: any }> {
  try {
    const c = await TestClient.connect(`${r.wsUrl}?token=${userToken(userId)}`);
    clients.push(c);
    return c;
  } catch (err) {
    if (err instanceof HandshakeRefused) return { status: err.status, body: JSON.parse(err.body) };
    throw err;
  }
}

const accepted = (results: Array<TestClient | { status: number }>) => results.filter((x): x is TestClient => x instanceof TestClient);
const refusedWith = (results: Array<TestClient | { status: number; body: any }>, code: string) =>
  results.filter((x) => !(x instanceof TestClient) && x.status === 429 && x.body.error.code === code).length;

async function seed(r: ReplicaProcess, project: string, users: string[]): Promise<void> {
  await r.ingestOk([
    { type: 'project.update', data: f.project(project) },
    ...users.map((u) => ({ type: 'project_user.create', data: f.projectUser(project, u, 'owner') })),
  ]);
}

describe('floods spread over two replicas meet one exact limit', () => {
  it('new connections of one user (RATE_CONN_PER_USER_PER_MIN)', async () => {
    const [a, b] = await startPair({ RATE_CONN_PER_USER_PER_MIN: '10' });
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(i % 2 ? a : b, 'flooder')));
    expect(accepted(results)).toHaveLength(10);
    expect(refusedWith(results, 'rate_limited')).toBe(20);
  });

  it('new connections from one address, many users (RATE_CONN_PER_IP_PER_MIN)', async () => {
    const [a, b] = await startPair({ RATE_CONN_PER_IP_PER_MIN: '12' });
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(i % 2 ? a : b, `user-${i}`)));
    expect(accepted(results)).toHaveLength(12);
    expect(refusedWith(results, 'rate_limited')).toBe(18);
  });

  it('open connections of one user (MAX_CONN_PER_USER), and a freed place is usable from the other replica', async () => {
    const [a, b] = await startPair({ MAX_CONN_PER_USER: '5' });
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => attempt(i % 2 ? a : b, 'hoarder')));
    const open = accepted(results);
    expect(open).toHaveLength(5);
    expect(refusedWith(results, 'too_many_connections')).toBe(11);
    open[0]!.ws.close();
    const next = await until(async () => {
      const r = await attempt(open[0]!.ws.url.includes(String(a.port)) ? b : a, 'hoarder');
      return r instanceof TestClient ? r : null;
    }, 'the freed place');
    expect(next).toBeInstanceOf(TestClient);
    expect((await attempt(a, 'hoarder')) instanceof TestClient).toBe(false);
  });

  it('connections holding a subscription in one project (MAX_CONN_PER_PROJECT)', async () => {
    const [a, b] = await startPair({ MAX_CONN_PER_PROJECT: '4' });
    const users = Array.from({ length: 10 }, (_, i) => `member-${i}`);
    await seed(a, 'p1', users);
    const conns = await Promise.all(users.map((u, i) => TestClient.connect(`${(i % 2 ? a : b).wsUrl}?token=${userToken(u)}`)));
    clients.push(...conns);
    const answers = await Promise.all(conns.map((c) => c.subscribe('/p1/requests')));
    expect(answers.filter((fr) => fr.action === 'publish')).toHaveLength(4);
    expect(answers.filter((fr) => fr.payload.code === 'too_many_connections')).toHaveLength(6);
  });

  it('subscriptions and frames of one connection (MAX_SUBSCRIPTIONS_PER_CONN, RATE_FRAMES_PER_S): the others keep their frames', async () => {
    const [a, b] = await startPair({ MAX_SUBSCRIPTIONS_PER_CONN: '50', RATE_FRAMES_PER_S: '20', RATE_FRAMES_BURST: '300' });
    await seed(a, 'p1', ['abuser', 'victim-a', 'victim-b']);
    const abuser = (await attempt(a, 'abuser')) as TestClient;
    const victims = [(await attempt(a, 'victim-a')) as TestClient, (await attempt(b, 'victim-b')) as TestClient];
    for (const v of victims) expect((await v.subscribe('/p1/requests')).action).toBe('publish');
    // 200 subscribes at once: within the burst, so the subscription cap decides.
    for (let i = 0; i < 200; i++) abuser.send({ action: 'subscribe', payload: { topic: `/p1/bots/b${i}` } });
    await abuser.sync();
    await waitFor(() => abuser.frames.filter((fr) => fr.payload.topic?.startsWith('/p1/bots/')).length >= 200, {
      what: 'every subscribe answered',
    });
    const bots = abuser.frames.filter((fr) => fr.payload.topic?.startsWith('/p1/bots/'));
    expect(bots.filter((fr) => fr.action === 'publish')).toHaveLength(50);
    expect(bots.filter((fr) => fr.payload.code === 'too_many_subscriptions')).toHaveLength(150);
    // Then a frame flood far over the rate: closed with 1008, while events keep reaching both victims.
    const flood = setInterval(() => {
      for (let i = 0; i < 50; i++) if (abuser.ws.readyState === abuser.ws.OPEN) abuser.send('{"action":"me"}');
    }, 5);
    try {
      for (let i = 0; i < 5; i++) await a.ingestOk({ type: 'request.create', data: f.request('p1', `r${i}`) });
      expect((await abuser.waitClosed(15_000)).code).toBe(1008);
    } finally {
      clearInterval(flood);
    }
    for (const v of victims) {
      await waitFor(
        () =>
          v.topicFrames('/p1/requests').filter((fr) => fr.payload.method === 'CREATE' && !Array.isArray(fr.payload.message)).length === 5,
        { what: 'live frames' },
      );
    }
  });
});

describe('no place leaks', () => {
  /** Every connection place and project place still counted in Redis (leases not yet ended). */
  async function countedPlaces(): Promise<number> {
    const keys = [...(await probe.keys('rt:{lim}:cu:*')), ...(await probe.keys('rt:{*}:conns'))];
    let n = 0;
    for (const k of keys) n += await probe.zcount(k, Date.now(), '+inf');
    return n;
  }

  it('after 5 000 connect/close cycles over both replicas, some subscribing, every count is back to zero', async () => {
    const [a, b] = await startPair({ MAX_CONN_PER_USER: '3', MAX_CONN_PER_PROJECT: '3' });
    await seed(a, 'p1', ['cycler-0', 'cycler-1', 'cycler-2', 'cycler-3']);
    let done = 0;
    const worker = async (w: number) => {
      const user = `cycler-${w}`;
      for (let i = w; i < 5000; i += 4) {
        const c = await TestClient.connect(`${(i % 2 ? a : b).wsUrl}?token=${userToken(user)}`);
        if (i % 10 === 0) expect((await c.subscribe('/p1/requests')).action).toBe('publish');
        c.ws.close();
        await c.waitClosed();
        done++;
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    expect(done).toBe(5000);
    await until(async () => (await countedPlaces()) === 0 || null, 'every place released');
    // And the caps are whole again: 3 connections of one user, 3 in the project.
    const held = await Promise.all([0, 1, 2].map((i) => attempt(i % 2 ? a : b, 'cycler-0')));
    expect(accepted(held)).toHaveLength(3);
    expect((await attempt(a, 'cycler-0')) instanceof TestClient).toBe(false);
    const subs = await Promise.all(accepted(held).map((c) => c.subscribe('/p1/requests')));
    expect(subs.every((fr) => fr.action === 'publish')).toBe(true);
  });

  it('the places of a replica killed with SIGKILL come back within about one heartbeat interval, with no cleanup', async () => {
    const [a, b] = await startPair({ MAX_CONN_PER_USER: '3', MAX_CONN_PER_PROJECT: '3' }, { WS_HEARTBEAT_INTERVAL_MS: '1000' });
    await seed(a, 'p1', ['victim', 'other']);
    const onB = await Promise.all([0, 1, 2].map(() => attempt(b, 'victim')));
    expect(accepted(onB)).toHaveLength(3);
    // B pings every 1 s and drops a silent client: these answer, so B holds them until it dies.
    const alive = setInterval(
      () =>
        accepted(onB).forEach(
          (c) => c.ws.readyState === c.ws.OPEN && c.send({ action: 'heartbeat', payload: { message: { text: 'pong' } } }),
        ),
      200,
    );
    afterThis.push(() => clearInterval(alive));
    for (const c of accepted(onB)) expect((await c.subscribe('/p1/requests')).action).toBe('publish');
    expect((await attempt(a, 'victim')) instanceof TestClient).toBe(false);
    expect(await countedPlaces()).toBe(6); // 3 connection places and 3 project places, all B's
    await b.kill('SIGKILL');
    const back = await until(
      async () => {
        const r = await attempt(a, 'victim');
        return r instanceof TestClient ? r : null;
      },
      'the dead replica’s places to come back',
      10_000,
    );
    // Within 10 s: B's leases last its heartbeat interval (1 s); a place leaked to the default lease (30 s) or for
    // ever would not come back in time.
    // Its project places were taken a few ms after the connection places, so they end a few ms later.
    const answer = await until(
      async () => {
        const fr = await back.subscribe('/p1/requests');
        return fr.action === 'publish' ? fr : null;
      },
      'the dead replica’s project places to come back',
      10_000,
    );
    expect(answer.payload).toMatchObject({ method: 'CREATE' });
    const others = await Promise.all([0, 1].map(() => attempt(a, 'other')));
    expect(accepted(others)).toHaveLength(2);
    for (const c of accepted(others)) expect((await c.subscribe('/p1/requests')).action).toBe('publish');
    back.close();
    for (const c of accepted(others)) c.close();
    await until(async () => (await countedPlaces()) === 0 || null, 'every place released');
  });
});
