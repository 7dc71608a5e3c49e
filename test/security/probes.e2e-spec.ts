import * as f from '../helpers/factories';
import { RedisServer } from '../helpers/redis-server';
import { ReplicaProcess } from '../helpers/replica-process';
import { startTestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait-for';
import { Frame, TestClient } from '../helpers/ws-client';

/**
 * Authorization probes (protocol.md §3): members of every role, and people who are not (disabled, pending,
 * end users, removed, strangers), try every topic kind of the project they do not belong to and every
 * request of their own project they may not see. Each subscribe is refused with the code §3 names, and
 * afterwards nothing published on those topics reaches the prober, while a legitimate subscriber of each
 * topic does receive it (the control that lets these tests fail).
 *
 * Every case runs on the memory engine (one app) and on the Redis engine with two replica processes, where
 * subscribes are answered by the Lua read path and live frames come through Redis pub/sub: each case puts its
 * prober on one replica, a control on each replica, and ingests its events through one or the other, cycling
 * through the four combinations from one case to the next.
 */

const P1 = 'pr1';
const P2 = 'pr2';
const pu = (p: string, u: string) => `pu-${p}-${u}`;

const ROOMY = {
  RATE_CONN_PER_USER_PER_MIN: '100000',
  RATE_CONN_PER_IP_PER_MIN: '100000',
  INGEST_RATE_PER_S: '100000',
  RATE_FRAMES_PER_S: '100000',
  RATE_FRAMES_BURST: '100000',
};

/** Members of P1 by role (each an active member of P1 only unless said otherwise). */
const P1_MEMBERS: [user: string, role: string, extra: Record<string, unknown>][] = [
  ['owner1', 'owner', {}],
  ['admin1', 'admin', {}],
  ['agent1', 'agent', {}],
  // An agent whose permissions leave it the participants-only scope (it does not see requests it is only a snapshot agent of).
  ['partagent1', 'agent', { permissions: ['lead_read'] }],
  ['super1', 'supervisor', {}],
  ['custom1', 'custom', { roleType: 1 }],
  ['limadmin1', 'admin', { permissions: ['lead_read'] }],
  ['grpadmin1', 'admin', { permissions: ['request_read_group'] }],
  ['reader1', 'custom', { roleType: 1, rolePermissions: ['request_read_all'] }],
  // Members of P1 who hold some non-member relation to P2 (see P2_NON_MEMBERS).
  ['disabled2', 'agent', {}],
  ['enduser2', 'agent', {}],
  ['pending2', 'agent', {}],
  ['viewer2', 'agent', {}],
  ['removed2', 'agent', {}],
];

/** People related to P1 without being active agent-type members of it. */
const P1_NON_MEMBERS: [user: string, role: string, extra: Record<string, unknown>][] = [
  ['disabled1', 'agent', { status: 'disabled' }],
  ['enduser1', 'user', {}],
  ['guestrole1', 'guest', {}],
];

/** Relations to P2 that are not active agent-type membership. */
const P2_NON_MEMBERS: [user: string, role: string, extra: Record<string, unknown>][] = [
  ['disabled2', 'owner', { status: 'disabled' }],
  ['enduser2', 'user', {}],
  ['pending2', 'admin', { status: 'pending' }],
  ['viewer2', 'viewer', { roleType: 2 }],
  ['removed2', 'admin', {}], // deleted below
];

/** Requests of P1 and who (apart from owner1, admin1, reader1, who see everything) can see each. */
const P1_REQUESTS: { id: string; participants: string[]; agents: string[]; visibleTo: string[] }[] = [
  { id: 'r1-ag', participants: ['agent1'], agents: ['agent1'], visibleTo: ['agent1'] },
  { id: 'r1-snap', participants: [], agents: ['agent1', 'grpadmin1', 'partagent1'], visibleTo: ['agent1', 'grpadmin1'] },
  {
    id: 'r1-part',
    participants: ['super1', 'custom1', 'limadmin1', 'partagent1'],
    agents: [],
    visibleTo: ['super1', 'custom1', 'limadmin1', 'partagent1'],
  },
  { id: 'r1-none', participants: ['nobody'], agents: ['nobody'], visibleTo: [] },
  { id: 'r1-draft', participants: ['agent1'], agents: [], visibleTo: ['agent1'] },
];
const SEE_ALL = ['owner1', 'admin1', 'reader1'];
const LIMITED = ['agent1', 'partagent1', 'super1', 'custom1', 'limadmin1', 'grpadmin1'];

/** Every topic kind of P2 (T1-T7), with P2's own objects. */
const P2_TOPICS = [
  `/${P2}/requests`,
  `/${P2}/requests/r2`,
  `/${P2}/requests/r2/messages`,
  `/${P2}/requests/r2-draft`,
  `/${P2}/project_users/${pu(P2, 'agent2')}`,
  `/${P2}/project_users/users/agent2`,
  `/${P2}/project_users/users/uuid-agent2`,
  `/${P2}/events/${pu(P2, 'agent2')}`,
  `/${P2}/events/${pu(P2, 'agent2')}/typing`,
  `/${P2}/bots/b2`,
];

/** Every topic kind of P1, for the people who are not members of it. */
const P1_TOPICS = [
  `/${P1}/requests`,
  ...P1_REQUESTS.flatMap((r) => [`/${P1}/requests/${r.id}`, `/${P1}/requests/${r.id}/messages`]),
  `/${P1}/project_users/${pu(P1, 'agent1')}`,
  `/${P1}/project_users/users/agent1`,
  `/${P1}/events/${pu(P1, 'agent1')}`,
  `/${P1}/events/${pu(P1, 'agent1')}/typing`,
  `/${P1}/bots/b1`,
];

/** Each prober's own project_user topic in the other project, where it has one that is not an active membership. */
const ownForeignPu = (user: string) => (P2_NON_MEMBERS.some(([u]) => u === user) ? [`/${P2}/project_users/${pu(P2, user)}`] : []);

/** Where clients connect and events are ingested: the one app, or one replica process. */
interface Node {
  readonly name: string;
  ingestOk(body: unknown): Promise<unknown>;
  connect(userId: string): Promise<TestClient>;
}

/** Two nodes over one store and bus: the same app twice on the memory engine, two replicas on Redis. */
interface Engine {
  readonly nodes: readonly [Node, Node];
  close(): Promise<void>;
}

async function memoryEngine(): Promise<Engine> {
  const app = await startTestApp(ROOMY);
  const node: Node = { name: 'the app', ingestOk: (body) => app.ingestOk(body), connect: (u) => app.connect(u) };
  return { nodes: [node, node], close: () => app.close() };
}

/** A redis-server and two replicas on it (with GENEROUS_LIMITS, which cover ROOMY); stopped by close(). */
async function redisEngine(): Promise<Engine> {
  const redis = await RedisServer.start();
  const started = await Promise.allSettled([
    ReplicaProcess.start({ REDIS_URL: redis.url }),
    ReplicaProcess.start({ REDIS_URL: redis.url }),
  ]);
  const replicas = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const clients: TestClient[] = [];
  const close = async () => {
    for (const c of clients) c.close();
    await Promise.all(replicas.map((r) => r.kill('SIGTERM')));
    await redis.stop();
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await close();
    throw failed.reason;
  }
  const node = (r: ReplicaProcess, i: number): Node => ({
    name: `replica ${i}`,
    ingestOk: (body) => r.ingestOk(body),
    connect: async (u) => {
      const c = await r.connect(u);
      clients.push(c);
      return c;
    },
  });
  return { nodes: [node(replicas[0]!, 0), node(replicas[1]!, 1)], close };
}

/** Who of a case is on which replica, from the replica numbers of its near and far side. */
type Who = (near: number, far: number) => string;

const ENGINES = [
  { engine: 'memory engine', start: memoryEngine, replicated: false },
  { engine: 'Redis engine, two replicas', start: redisEngine, replicated: true },
];

describe.each(ENGINES)('authorization probes on the $engine', ({ start, replicated }) => {
  let engine: Engine;

  /**
   * Case `i` of a table: its prober (and whoever stands in for it) on `near`, the other side of the case on `far`,
   * its events ingested through `via`; consecutive cases go through the four combinations of replicas.
   */
  const at = (i: number) => {
    const [a, b] = engine.nodes;
    return { near: i % 2 === 0 ? a : b, far: i % 2 === 0 ? b : a, via: (i >> 1) % 2 === 0 ? a : b };
  };
  /** Names the placement of case `i` in its title (one app on the memory engine); `who` says who is where. */
  const where = (i: number, who: Who = (near) => `prober on replica ${near}, control on both`, events = true) =>
    replicated ? `(${who(i % 2, 1 - (i % 2))}${events ? `, events through replica ${(i >> 1) % 2}` : ''})` : '(one app)';
  /** Each node once: both replicas on Redis, the app once on the memory engine. */
  const both = () => [...new Set(engine.nodes)];

  /**
   * Fences: a connection on each node holds `/P/bots/fence` of each project. fence() ingests an update of that bot
   * through a node and waits until every fence connection has it: envelopes of one project reach a replica in the
   * order they were published (one pub/sub channel per project) and are delivered synchronously, so by then every
   * node has delivered whatever the project published before. Without it, silence on one replica could just be
   * pub/sub lagging behind a control on the other.
   */
  const fenceWatchers = new Map<string, TestClient[]>();
  let fences = 0;
  async function fence(via: Node, project: string): Promise<void> {
    const name = `fence ${++fences}`;
    const topic = `/${project}/bots/fence`;
    const watchers = fenceWatchers.get(project)!;
    const from = watchers.map((w) => w.frames.length);
    await via.ingestOk({ type: 'faqbot.update', data: f.bot(project, 'fence', { name }) });
    for (const [k, w] of watchers.entries()) {
      await w.waitFrame((fr) => fr.action === 'publish' && fr.payload.topic === topic && fr.payload.message?.name === name, from[k]);
    }
  }

  beforeAll(async () => {
    engine = await start();
    await engine.nodes[0].ingestOk([
      { type: 'project.update', data: f.project(P1) },
      { type: 'project.update', data: f.project(P2) },
      ...[...P1_MEMBERS, ...P1_NON_MEMBERS].map(([u, role, extra]) => ({
        type: 'project_user.create',
        data: f.projectUser(P1, u, role, { uuid_user: `uuid-${u}`, ...extra }),
      })),
      { type: 'project_user.create', data: f.projectUser(P2, 'owner2', 'owner') },
      { type: 'project_user.create', data: f.projectUser(P2, 'agent2', 'agent', { uuid_user: 'uuid-agent2' }) },
      ...P2_NON_MEMBERS.map(([u, role, extra]) => ({ type: 'project_user.create', data: f.projectUser(P2, u, role, extra) })),
      { type: 'project_user.delete', data: { _id: pu(P2, 'removed2'), id_project: P2 } },
      ...P1_REQUESTS.map((r) => ({
        type: 'request.create',
        data: f.request(P1, r.id, {
          status: 200,
          participants: r.participants,
          agents: r.agents,
          ...(r.id === 'r1-draft' ? { draft: true } : {}),
        }),
      })),
      { type: 'request.create', data: f.request(P2, 'r2', { status: 200, participants: ['agent2'], agents: ['agent2'] }) },
      { type: 'request.create', data: f.request(P2, 'r2-draft', { status: 100, participants: ['agent2'], draft: true }) },
      { type: 'message.create', data: f.message(P2, 'r2', { text: 'P2 history' }) },
      { type: 'event.emit', data: f.event(P2, pu(P2, 'agent2'), 'typing') },
      { type: 'faqbot.update', data: f.bot(P2, 'b2') },
      { type: 'faqbot.update', data: f.bot(P1, 'b1') },
    ]);
    const owners: [project: string, owner: string][] = [
      [P1, 'owner1'],
      [P2, 'owner2'],
    ];
    for (const [project, owner] of owners) {
      const watchers: TestClient[] = [];
      for (const node of both()) {
        const w = await node.connect(owner);
        expect((await w.subscribe(`/${project}/bots/fence`)).action).toBe('publish');
        watchers.push(w);
      }
      fenceWatchers.set(project, watchers);
    }
  });
  afterAll(() => engine?.close());

  /** Events that publish on every topic of P2_TOPICS, ingested through `via`. */
  const touchP2 = async (via: Node, tag: string) => {
    await via.ingestOk([
      { type: 'request.update', data: f.request(P2, 'r2', { status: 200, participants: ['agent2'], agents: ['agent2'], tag }) },
      { type: 'request.create', data: f.request(P2, `r2-new-${tag}`, { status: 100, participants: ['agent2'], tag }) },
      { type: 'request.update', data: f.request(P2, 'r2-draft', { status: 100, participants: ['agent2'], draft: true, tag }) },
      { type: 'message.create', data: f.message(P2, 'r2', { text: `P2 secret ${tag}` }) },
      {
        type: 'project_user.update',
        data: f.projectUser(P2, 'agent2', 'agent', { uuid_user: 'uuid-agent2', number_assigned_requests: 1, tag }),
      },
      { type: 'event.emit', data: f.event(P2, pu(P2, 'agent2'), 'typing', { attributes: { tag } }) },
      { type: 'faqbot.update', data: f.bot(P2, 'b2', { name: `Bot ${tag}` }) },
    ]);
  };

  /** Events that publish on every topic of P1_TOPICS, ingested through `via`. */
  const touchP1 = async (via: Node, tag: string) => {
    await via.ingestOk([
      ...P1_REQUESTS.map((r) => ({
        type: 'request.update',
        data: f.request(P1, r.id, {
          status: 200,
          participants: r.participants,
          agents: r.agents,
          tag,
          ...(r.id === 'r1-draft' ? { draft: true } : {}),
        }),
      })),
      ...P1_REQUESTS.map((r) => ({ type: 'message.create', data: f.message(P1, r.id, { text: `P1 secret ${tag}` }) })),
      {
        type: 'project_user.update',
        data: f.projectUser(P1, 'agent1', 'agent', { uuid_user: 'uuid-agent1', number_assigned_requests: 2, tag }),
      },
      { type: 'event.emit', data: f.event(P1, pu(P1, 'agent1'), 'typing', { attributes: { tag } }) },
      { type: 'faqbot.update', data: f.bot(P1, 'b1', { name: `Bot ${tag}` }) },
    ]);
  };

  /**
   * Connects `user` as a control on each of `nodes` (once per distinct node) and subscribes it to each topic (it
   * must be granted); returns a check that every control got a live frame on each topic after.
   */
  async function controls(nodes: Node[], user: string, topicList: string[]): Promise<() => Promise<void>> {
    const checks: (() => Promise<void>)[] = [];
    for (const node of [...new Set(nodes)]) {
      const client = await node.connect(user);
      for (const t of topicList) {
        const answer = await client.subscribe(t);
        expect({ topic: t, action: answer.action, code: answer.payload.code }).toEqual({ topic: t, action: 'publish', code: undefined });
      }
      const from = client.frames.length;
      checks.push(async () => {
        for (const t of topicList) {
          await client
            .waitFrame((fr) => fr.action === 'publish' && fr.payload.topic === t, from)
            .catch(() => {
              throw new Error(`control ${user} on ${node.name}: no live frame on ${t}`);
            });
        }
      });
    }
    return async () => {
      for (const check of checks) await check();
    };
  }

  /** Subscribes and expects an `error` with the code for each topic. */
  async function expectRefused(client: TestClient, topicList: string[], code: string): Promise<void> {
    for (const t of topicList) {
      const answer = await client.subscribe(t);
      expect({ topic: t, action: answer.action, code: answer.payload.code, echoed: answer.payload.topic }).toEqual({
        topic: t,
        action: 'error',
        code,
        echoed: t,
      });
      expect(answer.payload.message).toEqual(expect.any(String));
    }
  }

  /** Table rows `{ user, i, at }` for it.each: the case number picks the placement, `at` names it in the title. */
  const cases = (users: string[], who?: Who, events?: boolean) => users.map((user, i) => ({ user, i, at: where(i, who, events) }));

  const probersOfP2 = [...P1_MEMBERS, ...P1_NON_MEMBERS].map(([u]) => u).concat(['stranger']);

  it.each(cases(probersOfP2))(
    '$user: every topic kind of the other project is forbidden, and none of its frames arrives later $at',
    async ({ user, i }) => {
      const { near, far, via } = at(i);
      const controlled = await controls([far, near], 'agent2', P2_TOPICS);
      const prober = await near.connect(user);
      const probes = [...P2_TOPICS, ...ownForeignPu(user)];
      await expectRefused(prober, probes, 'forbidden');
      // A second attempt is refused the same way (nothing was half-registered by the first).
      await expectRefused(prober, probes.slice(0, 3), 'forbidden');
      const from = prober.frames.length;
      await touchP2(via, `probe-${user}`);
      await controlled();
      await fence(via, P2);
      await prober.sync();
      expect(prober.dataFrames(from)).toEqual([]);
      expect(prober.raw.some((t) => t.includes('P2 secret') || t.includes('P2 history'))).toBe(false);
      expect(prober.closeInfo).toBeNull();
    },
  );

  it.each(cases([...P1_NON_MEMBERS.map(([u]) => u), 'stranger']))(
    '$user: not an active member of P1 either, so every P1 topic is forbidden and stays silent $at',
    async ({ user, i }) => {
      const { near, far, via } = at(i);
      const controlled = await controls(
        [far, near],
        'owner1',
        P1_TOPICS.filter((t) => !t.startsWith(`/${P1}/project_users/${pu(P1, 'agent1')}`)),
      );
      const agentControlled = await controls([far, near], 'agent1', [`/${P1}/project_users/${pu(P1, 'agent1')}`]);
      const prober = await near.connect(user);
      const own = P1_NON_MEMBERS.some(([u]) => u === user)
        ? [`/${P1}/project_users/${pu(P1, user)}`, `/${P1}/project_users/users/${user}`]
        : [];
      await expectRefused(prober, [...P1_TOPICS, ...own], 'forbidden');
      const from = prober.frames.length;
      await touchP1(via, `nonmember-${user}`);
      await controlled();
      await agentControlled();
      await fence(via, P1);
      await prober.sync();
      expect(prober.dataFrames(from)).toEqual([]);
    },
  );

  it.each(cases(LIMITED, (near, far) => `prober on replica ${near}, its list on replica ${far}, control on both`))(
    '$user: requests of its own project it cannot see are forbidden on T2 and T3, silent afterwards, and absent from its T1 list $at',
    async ({ user, i }) => {
      const { near, far, via } = at(i);
      const visible = P1_REQUESTS.filter((r) => r.visibleTo.includes(user)).map((r) => r.id);
      const invisible = P1_REQUESTS.filter((r) => !r.visibleTo.includes(user)).map((r) => r.id);
      expect(visible.length).toBeGreaterThan(0);
      expect(invisible.length).toBeGreaterThan(0);
      const controlled = await controls(
        [far, near],
        'owner1',
        invisible.flatMap((r) => [`/${P1}/requests/${r}`, `/${P1}/requests/${r}/messages`]),
      );

      const prober = await near.connect(user);
      await expectRefused(
        prober,
        invisible.flatMap((r) => [`/${P1}/requests/${r}`, `/${P1}/requests/${r}/messages`]),
        'forbidden',
      );
      // The same member on another connection (on the other replica) holds its legitimate topics (the probes are
      // about visibility, not identity).
      const lister = await far.connect(user);
      const list = await lister.subscribe(`/${P1}/requests`);
      expect(list.action).toBe('publish');
      expect(list.payload.message.map((r: any) => r.request_id).sort()).toEqual(visible.filter((r) => r !== 'r1-draft').sort());
      for (const r of visible) expect((await lister.subscribe(`/${P1}/requests/${r}`)).action).toBe('publish');

      const from = prober.frames.length;
      const listFrom = lister.frames.length;
      await touchP1(via, `limited-${user}`);
      await controlled();
      await fence(via, P1);
      await prober.sync();
      expect(prober.dataFrames(from)).toEqual([]);
      // Its list gets exactly the updates of the listed requests it can see, one each.
      await lister.sync();
      const listed = lister
        .dataFrames(listFrom)
        .filter((fr) => fr.payload.topic === `/${P1}/requests`)
        .map((fr) => `${fr.payload.method}:${fr.payload.message?.request_id}`);
      expect(listed.sort()).toEqual(
        visible
          .filter((r) => r !== 'r1-draft')
          .map((r) => `UPDATE:${r}`)
          .sort(),
      );
      const leaked = lister.frames.filter((fr: Frame) => invisible.includes(fr.payload.message?.request_id));
      expect(leaked).toEqual([]);
    },
  );

  it.each(cases(SEE_ALL, (near) => `on replica ${near}`, false))(
    '$user (sees every request) is granted every request of its project: the probes above are not refusing everyone $at',
    async ({ user, i }) => {
      const c = await at(i).near.connect(user);
      for (const r of P1_REQUESTS) {
        expect((await c.subscribe(`/${P1}/requests/${r.id}`)).action).toBe('publish');
        expect((await c.subscribe(`/${P1}/requests/${r.id}/messages`)).action).toBe('publish');
      }
    },
  );

  it.each([{ i: 1, at: where(1) }])(
    'ids of the other project used inside topics of its own project reach nothing of the other project $at',
    async ({ i }) => {
      const { near, far, via } = at(i);
      const controlled = await controls([far, near], 'agent2', [
        `/${P2}/events/${pu(P2, 'agent2')}`,
        `/${P2}/bots/b2`,
        `/${P2}/requests/r2`,
      ]);
      const prober = await near.connect('owner1');
      await expectRefused(prober, [`/${P1}/requests/r2`, `/${P1}/requests/r2/messages`, `/${P1}/project_users/users/agent2`], 'not_found');
      await expectRefused(prober, [`/${P1}/project_users/${pu(P2, 'agent2')}`], 'forbidden');
      const events = await prober.subscribe(`/${P1}/events/${pu(P2, 'agent2')}`);
      expect(events.payload).toEqual({ topic: `/${P1}/events/${pu(P2, 'agent2')}`, method: 'CREATE', message: [] });
      const typing = await prober.subscribe(`/${P1}/events/${pu(P2, 'agent2')}/typing`);
      expect(typing.payload.message).toEqual([]);
      const bot = await prober.subscribe(`/${P1}/bots/b2`);
      expect(bot.payload).toEqual({ topic: `/${P1}/bots/b2`, method: 'CREATE', message: null });
      const from = prober.frames.length;
      await touchP2(via, 'cross-ids');
      await controlled();
      await fence(via, P2);
      await fence(via, P1);
      await prober.sync();
      expect(prober.dataFrames(from)).toEqual([]);
    },
  );

  it.each(cases(['stranger', 'owner1', 'owner2'], (near) => `prober on replica ${near}`))(
    '$user: unknown topic shapes answer unknown_topic and stay silent $at',
    async ({ user, i }) => {
      const { near, via } = at(i);
      const prober = await near.connect(user);
      const shapes = [
        `/${P2}`,
        `/${P2}/`,
        `/${P2}/requests/r2/messages/extra`,
        `/${P2}/requests/r2/extra`,
        `/${P2}/project_users/users/agent2/extra`,
        `/${P2}/events/${pu(P2, 'agent2')}/typing/extra`,
        `/${P2}/bots/b2/extra`,
        `/${P2}/bots`,
        `/${P2}/events`,
        `/${P2}/project_users`,
        `/${P2}/metrics/extra`,
        `//requests`,
        `//${P2}/requests`,
        `${P2}/requests`,
        `/${P2}/requests/`,
        `/${P2}/../${P2}/requests`,
        `/${P2}/requests/${'x'.repeat(10 * 1024)}`,
        `/${P2}/${'y'.repeat(10 * 1024)}`,
      ];
      await expectRefused(prober, shapes, 'unknown_topic');
      const from = prober.frames.length;
      await touchP2(via, `shapes-${user}`);
      await fence(via, P2);
      await prober.sync();
      expect(prober.dataFrames(from)).toEqual([]);
    },
  );

  /** Client publish and broadcast frames on topics of P2, by members of it and by others. */
  const spoofs: [user: string, action: string, topic: string][] = [
    ['owner2', 'publish', `/${P2}/requests`],
    ['owner2', 'broadcast', `/${P2}/requests/r2`],
    ['agent2', 'publish', `/${P2}/requests/r2/messages`],
    ['stranger', 'publish', `/${P2}/requests`],
    ['stranger', 'broadcast', `/${P2}/bots/b2`],
    ['owner1', 'publish', `/${P2}/events/${pu(P2, 'agent2')}`],
    ['owner1', 'broadcast', `/${P2}/project_users/${pu(P2, 'agent2')}`],
  ];

  it.each(
    spoofs.map(([user, action, topic], i) => ({
      user,
      action,
      topic,
      i,
      at: where(i, (near, far) => `sender and bystander on replica ${near}, watcher on replica ${far}`),
    })),
  )('$user sending $action on $topic is refused with forbidden and nothing is relayed $at', async ({ user, action, topic, i }) => {
    const { near, far, via } = at(i);
    // The watcher on the other replica, the bystander on the sender's own.
    const watcher = await far.connect('agent2');
    const watched = [
      `/${P2}/requests`,
      `/${P2}/requests/r2`,
      `/${P2}/requests/r2/messages`,
      `/${P2}/bots/b2`,
      `/${P2}/events/${pu(P2, 'agent2')}`,
    ];
    for (const t of watched) expect((await watcher.subscribe(t)).action).toBe('publish');
    const bystander = await near.connect('owner2');
    for (const t of watched.slice(0, 4)) expect((await bystander.subscribe(t)).action).toBe('publish');
    const from = watcher.frames.length;
    const bFrom = bystander.frames.length;
    const sender = await near.connect(user);
    const message = { _id: 'spoof', request_id: 'spoof', status: 100, text: 'SPOOFED', participants: ['agent2'] };
    sender.send({ action, payload: { topic, method: 'CREATE', message } });
    sender.send({ action, payload: { topic, method: 'UPDATE', message: [message] } });
    const errors = await waitFor(() => {
      const e = sender.frames.filter((fr) => fr.action === 'error');
      return e.length >= 2 ? e : undefined;
    });
    for (const e of errors) expect(e.payload).toMatchObject({ topic, code: 'forbidden' });
    await fence(via, P2);
    await sender.sync();
    await watcher.sync();
    await bystander.sync();
    expect(sender.dataFrames()).toEqual(errors);
    expect(watcher.dataFrames(from)).toEqual([]);
    expect(bystander.dataFrames(bFrom)).toEqual([]);
    expect([...watcher.raw, ...bystander.raw].some((t) => t.includes('SPOOFED'))).toBe(false);
  });
});
