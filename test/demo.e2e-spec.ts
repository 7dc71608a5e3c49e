import { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { formatFrame } from '../src/cli/frame-formatter';
import { WatchConnection, WatchEvent } from '../src/cli/watch-connection';
import { formatDemoBanner } from '../src/demo/demo-banner';
import { DemoHandle, startDemo } from '../src/demo/demo-launcher';
import { signUserToken } from '../src/demo/demo-tokens';
import { waitFor } from './helpers/wait-for';
import { Frame, HandshakeRefused, TestClient } from './helpers/ws-client';

const isPong = (f: Frame) => f.action === 'heartbeat' && f.payload.message?.text === 'pong';

/** Every watch client a test starts is stopped after it, passed or failed. */
const watches: WatchConnection[] = [];
function startWatch(opts: ConstructorParameters<typeof WatchConnection>[0], events: WatchEvent[]): WatchConnection {
  const watch = new WatchConnection(opts, (e) => events.push(e));
  watches.push(watch);
  watch.start();
  return watch;
}
afterEach(() => {
  for (const w of watches.splice(0)) w.stop();
});

describe('npm run demo', () => {
  let demo: DemoHandle;
  let topic: string;
  const clients: TestClient[] = [];
  const connect = async (token: string) => {
    const c = await TestClient.connect(demo.wsUrlFor(token));
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    demo = await startDemo({ port: 0, seed: 'demo-e2e', eventsPerSecond: 200, serviceEnv: { LOG_LEVEL: 'silent' } });
    topic = `/${demo.projectId}/requests`;
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => demo.stop());

  it('shows an owner a snapshot of the open requests, then live frames made by the simulator', async () => {
    const owner = await connect(demo.owner.token);
    const snapshot = await owner.subscribe(topic);
    expect(snapshot).toMatchObject({ action: 'publish', payload: { topic, method: 'CREATE' } });
    const listed = snapshot.payload.message as Array<Record<string, unknown>>;
    expect(listed.length).toBeGreaterThan(0);
    for (const r of listed) {
      expect(r).toMatchObject({ id_project: demo.projectId, id: r._id });
      expect([100, 200]).toContain(r.status);
    }
    const from = owner.frames.indexOf(snapshot) + 1;
    const live = (method: string, pred: (m: any) => boolean = () => true) =>
      owner.waitFrame(
        (f) => f.payload.topic === topic && f.payload.method === method && !Array.isArray(f.payload.message) && pred(f.payload.message),
        from,
        10_000,
      );
    const created = await live('CREATE');
    expect(created.payload.message).toMatchObject({ id_project: demo.projectId, id: created.payload.message._id });
    const assigned = await live('UPDATE', (m) => m.status === 200 && m.participants.length === 1);
    expect(assigned.payload.message.snapshot.agents.length + (assigned.payload.message.participants[0].startsWith('bot_') ? 1 : 0)).toBe(1);
    await live('UPDATE', (m) => m.status === 1000);
    // Nothing the simulator sent was refused or dropped as stale.
    expect(demo.traffic.stats()).toMatchObject({ stale: 0, duplicates: 0, failed: 0 });
    expect(demo.traffic.stats().accepted).toBe(demo.traffic.stats().sent);
  });

  it('shows an agent only the requests it takes part in (and the last state of one taken away)', async () => {
    const me = demo.agent.userId;
    const involved = (r: any) => r.participants.includes(me) || r.snapshot.agents.some((a: any) => a.id_user === me);
    const agent = await connect(demo.agent.token);
    const owner = await connect(demo.owner.token);
    await agent.subscribe(topic);
    await owner.subscribe(topic);
    const liveFrames = (c: TestClient) => c.topicFrames(topic).filter((f) => f.action === 'publish' && !Array.isArray(f.payload.message));
    await waitFor(
      () => liveFrames(owner).length >= 200 && liveFrames(agent).some((f) => f.payload.method !== 'DELETE' && involved(f.payload.message)),
      {
        timeoutMs: 20_000,
        what: 'the agent to take part in a request',
      },
    );
    // The owner saw requests of other agents: there was something to filter out.
    expect(liveFrames(owner).some((f) => f.payload.method !== 'DELETE' && !involved(f.payload.message))).toBe(true);

    await agent.sync();
    const cut = agent.frames.map(isPong).lastIndexOf(true);
    const frames = agent.frames.slice(0, cut).filter((f) => f.payload.topic === topic);
    expect(frames.every((f) => f.action === 'publish')).toBe(true);
    const visible = new Set<string>();
    frames.forEach((f, i) => {
      const m = f.payload.message;
      if (Array.isArray(m)) {
        expect(m.every(involved)).toBe(true);
        for (const r of m) visible.add(r.request_id);
      } else if (f.payload.method === 'DELETE') {
        expect(visible.has(m.request_id)).toBe(true);
        visible.delete(m.request_id);
      } else if (involved(m)) {
        visible.add(m.request_id);
      } else {
        // Reassigned to someone else: one last UPDATE with the new state, then DELETE (protocol.md §4.2).
        expect({ method: f.payload.method, seenBefore: visible.has(m.request_id) }).toEqual({ method: 'UPDATE', seenBefore: true });
        expect(frames[i + 1]?.payload).toMatchObject({ method: 'DELETE', message: { request_id: m.request_id } });
      }
    });
  });

  it('prints URLs, a curl and watch commands that work as printed', async () => {
    const banner = formatDemoBanner(demo);
    const port = demo.running.port;
    expect(banner).toContain(`ws://localhost:${port}/?token=JWT%20${demo.owner.token}`);
    expect(banner).toContain(`npm run watch -- --topic ${topic} --token ${demo.owner.token} --url ws://localhost:${port}/`);
    expect(banner).toContain(`npm run watch -- --topic ${topic} --token ${demo.agent.token} --url ws://localhost:${port}/`);

    // The curl line, replayed: its event reaches the owner on the events topic the banner names.
    const curl = /curl -sS -X POST (\S+) -H 'Authorization: Bearer (\S+)' -H 'Content-Type: application\/json' -d '(.+)'/.exec(banner);
    expect(curl).not.toBeNull();
    const [, url, bearer, body] = curl!;
    const eventsTopic = `/${demo.projectId}/events/${demo.owner.projectUserId}`;
    expect(banner).toContain(`--topic ${eventsTopic} --token ${demo.owner.token}`);
    const owner = await connect(demo.owner.token);
    await owner.subscribe(eventsTopic);
    const res = await fetch(url!.replace('localhost', '127.0.0.1'), {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(202);
    const frame = await owner.waitFrame(
      (f) => f.payload.topic === eventsTopic && f.payload.method === 'CREATE' && !Array.isArray(f.payload.message),
    );
    expect(frame.payload.message).toMatchObject({ _id: 'hello-from-curl', name: 'hello' });
  });

  it('formats a frame from the demo as one line with its topic and method', async () => {
    const owner = await connect(demo.owner.token);
    await owner.subscribe(topic);
    const raw = await waitFor(() => owner.raw.find((r) => r.includes('"method":"UPDATE"')));
    const line = formatFrame(raw)!;
    expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} /);
    expect(line).toContain(`${topic} UPDATE request support-group-${demo.projectId}-`);
    expect(line).toMatch(/ status \d+ participants \d+ \[.*\] agents \d+ \[/);
  });

  it('lets the watch client subscribe to several topics and print them', async () => {
    const events: WatchEvent[] = [];
    const userTopic = `/${demo.projectId}/project_users/users/${demo.agent.userId}`;
    const watch = startWatch({ url: `ws://127.0.0.1:${demo.running.port}/`, token: demo.owner.token, topics: [topic, userTopic] }, events);
    const lines = () => events.flatMap((e) => (e.type === 'frame' ? [formatFrame(e.raw, { at: e.at })] : []));
    await waitFor(() => lines().find((l) => l?.includes(`${topic} CREATE `) && / \d+ requests \[/.test(l)), {
      what: 'the request snapshot line',
    });
    await waitFor(
      () =>
        lines().find((l) => l?.includes(`${userTopic} CREATE project_user ${demo.agent.projectUserId} user ${demo.agent.userId} agent`)),
      {
        what: 'the project_user snapshot line',
      },
    );
    await waitFor(() => lines().find((l) => l?.includes(`${topic} UPDATE request `)), { timeoutMs: 10_000, what: 'a live request line' });
    expect(events[0]).toEqual({ type: 'open', url: `ws://127.0.0.1:${demo.running.port}/`, topics: [topic, userTopic] });
    watch.stop();
    await expect(watch.done).resolves.toEqual({ reason: 'stopped' });
  });

  it('reports a refused handshake with its status and JSON body, and gives up', async () => {
    const forged = signUserToken(
      { userId: demo.owner.userId, firstname: 'O', lastname: 'O', email: 'o@example.test' },
      'not-the-demo-secret',
    );
    // What the service answers a client holding that token:
    await expect(TestClient.connect(demo.wsUrlFor(forged))).rejects.toBeInstanceOf(HandshakeRefused);
    const events: WatchEvent[] = [];
    const watch = startWatch({ url: `ws://127.0.0.1:${demo.running.port}/`, token: forged, topics: [topic] }, events);
    const end = await watch.done;
    expect(end).toMatchObject({ reason: 'refused', status: 401 });
    const refused = events.find((e) => e.type === 'refused');
    expect(refused).toMatchObject({ status: 401 });
    expect(JSON.parse((refused as { body: string }).body)).toMatchObject({ error: { code: 'unauthorized' } });
    expect(events.some((e) => e.type === 'open' || e.type === 'closed')).toBe(false);
  });
});

describe('the watch client against a server that misbehaves', () => {
  let server: WebSocketServer;
  let url: string;
  const received: Array<{ conn: number; frame: any }> = [];
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    server.on('connection', (ws) => {
      const conn = sockets.push(ws);
      ws.on('message', (data: Buffer) => received.push({ conn, frame: JSON.parse(data.toString()) }));
    });
  });
  afterAll(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers pings, pings back, drops a silent server and reconnects and resubscribes like the dashboard', async () => {
    const events: WatchEvent[] = [];
    const watch = startWatch(
      { url, token: 'a.b.c', topics: ['/p/requests'], pingIntervalMs: 20, pongTimeoutMs: 500, backoffMs: () => 10 },
      events,
    );
    const framesOf = (conn: number) => received.filter((r) => r.conn === conn).map((r) => r.frame);
    await waitFor(() => framesOf(1).length > 0);
    expect(framesOf(1)[0]).toEqual({ action: 'subscribe', payload: { topic: '/p/requests' } });

    // A server ping is answered with a pong.
    sockets[0]!.send(JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'ping' } } }));
    await waitFor(() => framesOf(1).some((f) => f.payload?.message?.text === 'pong'), { what: 'a pong' });
    // The client pings on its own; this server never answers, so the client drops it and comes back.
    await waitFor(() => framesOf(1).some((f) => f.action === 'heartbeat' && f.payload.message.text === 'ping'), { what: 'a client ping' });
    await waitFor(() => framesOf(2).length > 0, { what: 'a second connection' });
    expect(framesOf(2)[0]).toEqual({ action: 'subscribe', payload: { topic: '/p/requests' } });
    expect(events.some((e) => e.type === 'error' && e.message.includes('no pong'))).toBe(true);
    expect(events.find((e) => e.type === 'closed')).toMatchObject({ retryInMs: 10 });

    // The server drops the connection: the client reconnects once more.
    sockets[1]!.terminate();
    await waitFor(() => framesOf(3).length > 0, { what: 'a third connection' });
    watch.stop();
    await expect(watch.done).resolves.toEqual({ reason: 'stopped' });
  });

  it('with once, ends when the connection drops', async () => {
    const events: WatchEvent[] = [];
    const before = sockets.length;
    const watch = startWatch({ url, token: 'a.b.c', topics: ['/p/requests'], once: true }, events);
    await waitFor(() => sockets.length > before && received.some((r) => r.conn === before + 1));
    sockets[before]!.close(1001, 'going away');
    await expect(watch.done).resolves.toEqual({ reason: 'closed', code: 1001 });
    expect(events.at(-1)).toEqual({ type: 'closed', code: 1001, reason: 'going away', retryInMs: null });
  });
});
