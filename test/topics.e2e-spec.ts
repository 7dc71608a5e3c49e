import * as f from './helpers/factories';
import { startTestApp, TestApp } from './helpers/test-app';

/** protocol.md §3-§4: who may subscribe to what, snapshots, live frames and payload shapes. */

const P = 'tp';

async function seedMembers(app: TestApp, project = P) {
  await app.ingestOk([
    { type: 'project.update', data: f.project(project, { settings: { max_agent_assigned_chat: 2 } }) },
    { type: 'project_user.create', data: f.projectUser(project, 'owner', 'owner') },
    { type: 'project_user.create', data: f.projectUser(project, 'admin', 'admin') },
    { type: 'project_user.create', data: f.projectUser(project, 'sup', 'supervisor') },
    { type: 'project_user.create', data: f.projectUser(project, 'ag1', 'agent') },
    { type: 'project_user.create', data: f.projectUser(project, 'ag2', 'agent') },
    { type: 'project_user.create', data: f.projectUser(project, 'reader', 'custom', { roleType: 1, permissions: ['request_read_all'] }) },
    {
      type: 'project_user.create',
      data: f.projectUser(project, 'grp', 'agent', { permissions: ['foo'], rolePermissions: ['request_read_group'] }),
    },
    { type: 'project_user.create', data: f.projectUser(project, 'enduser', 'user') },
    { type: 'project_user.create', data: f.projectUser(project, 'off', 'agent', { status: 'disabled' }) },
  ]);
}

describe('T1 /P/requests', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp({ WS_HISTORY_REQUESTS_LIMIT: '3' });
    await seedMembers(app);
  });
  afterEach(() => app.close());

  it('snapshots the newest open requests the member can see, newest updatedAt first, limited', async () => {
    await app.ingestOk([
      { type: 'request.create', data: f.request(P, 'a', { status: 100 }) },
      { type: 'request.create', data: f.request(P, 'b', { status: 200, participants: ['ag1', 'sup'] }) },
      { type: 'request.create', data: f.request(P, 'c', { status: 300, agents: ['ag1'] }) },
      { type: 'request.create', data: f.request(P, 'd', { status: 200 }) },
      { type: 'request.create', data: f.request(P, 'temp', { status: 50 }) },
      { type: 'request.create', data: f.request(P, 'aband', { status: 150 }) },
      { type: 'request.create', data: f.request(P, 'closed', { status: 1000 }) },
      { type: 'request.create', data: f.request(P, 'pre', { status: 100, preflight: true }) },
      { type: 'request.create', data: f.request(P, 'draft', { status: 100, draft: true }) },
    ]);
    const owner = await app.connect('owner');
    expect((await owner.subscribe(`/${P}/requests`)).payload.message.map((r: any) => r.request_id)).toEqual(['d', 'c', 'b']);
    const agent = await app.connect('ag1');
    expect((await agent.subscribe(`/${P}/requests`)).payload.message.map((r: any) => r.request_id)).toEqual(['c', 'b']);
    const sup = await app.connect('sup');
    expect((await sup.subscribe(`/${P}/requests`)).payload.message.map((r: any) => r.request_id)).toEqual(['b']);
    const reader = await app.connect('reader');
    expect((await reader.subscribe(`/${P}/requests`)).payload.message).toHaveLength(3);
  });

  it('sends live CREATE/UPDATE only to members who can see the request at that moment (the original sent everything to everyone)', async () => {
    const owner = await app.connect('owner');
    const ag1 = await app.connect('ag1');
    const ag2 = await app.connect('ag2');
    const sup = await app.connect('sup');
    for (const c of [owner, ag1, ag2, sup]) await c.subscribe(`/${P}/requests`);
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'x', { status: 100 }) });
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'x', { status: 200, participants: ['ag1'], agents: ['ag1'] }) });
    for (const c of [owner, ag1, ag2, sup]) await c.sync();
    const methods = (c: typeof owner) =>
      c
        .topicFrames(`/${P}/requests`)
        .slice(1)
        .map((fr) => fr.payload.method);
    expect(methods(owner)).toEqual(['CREATE', 'UPDATE']);
    expect(methods(ag1)).toEqual(['UPDATE']);
    expect(methods(ag2)).toEqual([]);
    expect(methods(sup)).toEqual([]);
  });

  it('sends a reassigned request one last UPDATE then DELETE to the agent who lost sight of it', async () => {
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'y', { status: 200, participants: ['ag1'], agents: ['ag1'] }) });
    const ag1 = await app.connect('ag1');
    const ag2 = await app.connect('ag2');
    await ag1.subscribe(`/${P}/requests`);
    await ag2.subscribe(`/${P}/requests`);
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'y', { status: 200, participants: ['ag2'], agents: ['ag2'] }) });
    await app.ingestOk({
      type: 'request.update',
      data: f.request(P, 'y', { status: 200, participants: ['ag2'], agents: ['ag2'], first_text: 'again' }),
    });
    await ag1.sync();
    await ag2.sync();
    const lost = ag1.topicFrames(`/${P}/requests`).slice(1);
    expect(lost.map((fr) => fr.payload.method)).toEqual(['UPDATE', 'DELETE']);
    expect(lost[0]!.payload.message.participants).toEqual(['ag2']);
    expect(lost[1]!.payload.message).toEqual({ _id: 'oid-y', id: 'oid-y', request_id: 'y' });
    expect(
      ag2
        .topicFrames(`/${P}/requests`)
        .slice(1)
        .map((fr) => fr.payload.method),
    ).toEqual(['UPDATE', 'UPDATE']);
  });

  it('sends a closed request once as UPDATE with status 1000 to those who could see it, then nothing', async () => {
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'z', { status: 200, participants: ['ag1'] }) });
    const owner = await app.connect('owner');
    const ag2 = await app.connect('ag2');
    await owner.subscribe(`/${P}/requests`);
    await ag2.subscribe(`/${P}/requests`);
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'z', { status: 1000, participants: ['ag1'] }) });
    await app.ingestOk({
      type: 'request.update',
      data: f.request(P, 'z', { status: 1000, participants: ['ag1'], closed_at: f.nextTime() }),
    });
    await owner.sync();
    await ag2.sync();
    const frames = owner.topicFrames(`/${P}/requests`).slice(1);
    expect(frames.map((fr) => [fr.payload.method, fr.payload.message.status])).toEqual([['UPDATE', 1000]]);
    expect(ag2.topicFrames(`/${P}/requests`).slice(1)).toEqual([]);
  });

  it('never shows drafts or preflights on the list, on create or update (the original leaked drafts on CREATE)', async () => {
    const owner = await app.connect('owner');
    await owner.subscribe(`/${P}/requests`);
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'dr', { status: 100, draft: true }) });
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'dr', { status: 200, draft: true }) });
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'pf', { status: 100, preflight: true }) });
    await owner.sync();
    expect(owner.topicFrames(`/${P}/requests`).slice(1)).toEqual([]);
    // leaving preflight: the project sees it for the first time, as CREATE
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'pf', { status: 100, preflight: false }) });
    const created = await owner.waitFrame(
      (fr) => fr.payload.topic === `/${P}/requests` && fr.payload.method === 'CREATE' && fr.payload.message?.request_id === 'pf',
    );
    expect(created.payload.message.preflight).toBe(false);
  });

  it('sends DELETE to those who saw a deleted request', async () => {
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'del', { status: 100 }) });
    const owner = await app.connect('owner');
    await owner.subscribe(`/${P}/requests`);
    await app.ingestOk({ type: 'request.delete', data: { request_id: 'del', id_project: P } });
    const del = await owner.waitFrame((fr) => fr.payload.method === 'DELETE');
    expect(del.payload).toEqual({
      topic: `/${P}/requests`,
      method: 'DELETE',
      message: { _id: 'oid-del', id: 'oid-del', request_id: 'del' },
    });
  });

  it('refuses users who are not active agent-type members', async () => {
    for (const user of ['enduser', 'off', 'nobody']) {
      const c = await app.connect(user);
      expect((await c.subscribe(`/${P}/requests`)).payload.code).toBe('forbidden');
    }
  });
});

describe('request payloads (protocol.md §4.1)', () => {
  it('carries id, requester_id, isAuthenticated and reduced snapshot.agents, and keeps the other snapshot fields', async () => {
    const app = await startTestApp();
    try {
      await seedMembers(app);
      const doc = f.request(P, 'shape', { status: 200, participants: ['ag1'], lead: { _id: 'lead-9', fullname: 'Ann' } });
      (doc.snapshot as any).agents = [{ _id: 'pu-x', id_user: { _id: 'ag1', firstname: 'A' }, role: 'agent', email: 'a@x' }];
      await app.ingestOk({ type: 'request.create', data: doc });
      const owner = await app.connect('owner');
      const [r] = (await owner.subscribe(`/${P}/requests`)).payload.message;
      expect(r).toMatchObject({ _id: 'oid-shape', id: 'oid-shape', requester_id: 'lead-9', status: 200, participants: ['ag1'] });
      expect(r.snapshot.agents).toEqual([{ id_user: 'ag1' }]);
      expect(r.snapshot.requester).toMatchObject({ role: 'guest', isAuthenticated: false });
      expect(r.snapshot.lead).toMatchObject({ fullname: 'Visitor' });
      expect(r.snapshot.department).toMatchObject({ name: 'Default' });
      const single = await owner.subscribe(`/${P}/requests/shape`);
      expect(single.payload.message).toEqual(r);
      const bare = f.request(P, 'bare', { status: 100 });
      delete (bare as any).snapshot;
      delete (bare as any).participants;
      delete (bare as any).lead;
      await app.ingestOk({ type: 'request.create', data: bare });
      const live = await owner.waitFrame((fr) => fr.payload.message?.request_id === 'bare');
      expect(live.payload.message).toMatchObject({ requester_id: null, participants: [], snapshot: { agents: [] }, status: 100 });
    } finally {
      await app.close();
    }
  });
});

describe('T2 /P/requests/R and T3 /P/requests/R/messages', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp({ WS_HISTORY_MESSAGES_LIMIT: '3' });
    await seedMembers(app);
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'r1', { status: 200, participants: ['ag1'], agents: ['ag1'] }) });
  });
  afterEach(() => app.close());

  it('answers not_found for an unknown request and forbidden for one the member cannot see (the original subscribed anyway)', async () => {
    const ag2 = await app.connect('ag2');
    expect((await ag2.subscribe(`/${P}/requests/nope`)).payload.code).toBe('not_found');
    expect((await ag2.subscribe(`/${P}/requests/nope/messages`)).payload.code).toBe('not_found');
    expect((await ag2.subscribe(`/${P}/requests/r1`)).payload.code).toBe('forbidden');
    expect((await ag2.subscribe(`/${P}/requests/r1/messages`)).payload.code).toBe('forbidden');
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'r1', { status: 200, participants: ['ag1'], first_text: 'secret' }) });
    await ag2.sync();
    expect(ag2.frames.some((fr) => fr.payload.message?.first_text === 'secret')).toBe(false);
  });

  it('sends UPDATE on every change, drafts and closes included, and DELETE when removed', async () => {
    const ag1 = await app.connect('ag1');
    const snap = await ag1.subscribe(`/${P}/requests/r1`);
    expect(snap.payload.message.request_id).toBe('r1');
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'r1', { status: 200, participants: ['ag1'], draft: true }) });
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'r1', { status: 1000, participants: ['ag1'] }) });
    await app.ingestOk({ type: 'request.delete', data: { _id: 'oid-r1', id_project: P } });
    await ag1.sync();
    expect(ag1.topicFrames(`/${P}/requests/r1`).map((fr) => fr.payload.method)).toEqual(['CREATE', 'UPDATE', 'UPDATE', 'DELETE']);
  });

  it('ends the subscriptions with error forbidden when the request stops being visible', async () => {
    const ag1 = await app.connect('ag1');
    await ag1.subscribe(`/${P}/requests/r1`);
    await ag1.subscribe(`/${P}/requests/r1/messages`);
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'r1', { status: 200, participants: ['ag2'], agents: ['ag2'] }) });
    await app.ingestOk({ type: 'message.create', data: f.message(P, 'r1', { text: 'after' }) });
    await ag1.sync();
    expect(ag1.topicFrames(`/${P}/requests/r1`).map((fr) => fr.action + ':' + (fr.payload.method ?? fr.payload.code))).toEqual([
      'publish:CREATE',
      'error:forbidden',
    ]);
    expect(ag1.topicFrames(`/${P}/requests/r1/messages`).map((fr) => fr.action + ':' + (fr.payload.method ?? fr.payload.code))).toEqual([
      'publish:CREATE',
      'error:forbidden',
    ]);
  });

  it('snapshots the newest messages in ascending order (the original sent the oldest), then CREATE and UPDATE live', async () => {
    const msgs = [1, 2, 3, 4, 5].map((i) => f.message(P, 'r1', { _id: `m${i}`, text: `t${i}` }));
    await app.ingestOk(msgs.map((m) => ({ type: 'message.create', data: m })));
    const ag1 = await app.connect('ag1');
    const snap = await ag1.subscribe(`/${P}/requests/r1/messages`);
    expect(snap.payload.message.map((m: any) => m._id)).toEqual(['m3', 'm4', 'm5']);
    const embedded = { ...f.message(P, 'r1', { _id: 'm6' }), request: { request_id: 'r1', status: 200 } };
    await app.ingestOk({ type: 'message_create', data: embedded });
    await app.ingestOk({ type: 'message.update', data: { ...msgs[4], status: 300, updatedAt: f.nextTime() } });
    await ag1.sync();
    const live = ag1.topicFrames(`/${P}/requests/r1/messages`).slice(1);
    expect(live.map((fr) => [fr.payload.method, fr.payload.message._id])).toEqual([
      ['CREATE', 'm6'],
      ['UPDATE', 'm5'],
    ]);
    expect(live[0]!.payload.message.request).toEqual({ request_id: 'r1', status: 200 });
    expect(live[1]!.payload.message.status).toBe(300);
  });
});

describe('T4, T5 project users', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
    await seedMembers(app);
  });
  afterEach(() => app.close());

  it('lets a member watch only its own project_user on T4, with isBusy', async () => {
    const ag1 = await app.connect('ag1');
    const own = await ag1.subscribe(`/${P}/project_users/pu-${P}-ag1`);
    expect(own.payload.message).toMatchObject({ _id: `pu-${P}-ag1`, isBusy: false });
    expect((await ag1.subscribe(`/${P}/project_users/pu-${P}-ag2`)).payload.code).toBe('forbidden');
    await app.ingestOk({ type: 'project_user.update', data: f.projectUser(P, 'ag1', 'agent', { number_assigned_requests: 2 }) });
    const upd = await ag1.waitFrame((fr) => fr.payload.method === 'UPDATE');
    expect(upd.payload).toMatchObject({ topic: `/${P}/project_users/pu-${P}-ag1`, message: { number_assigned_requests: 2, isBusy: true } });
  });

  it('computes isBusy from the project limit, replaced by a larger personal limit', async () => {
    await app.ingestOk([
      { type: 'project_user.update', data: f.projectUser(P, 'ag1', 'agent', { number_assigned_requests: 2, max_assigned_chat: 5 }) },
      { type: 'project_user.update', data: f.projectUser(P, 'ag2', 'agent', { number_assigned_requests: 2, max_assigned_chat: 1 }) },
    ]);
    const owner = await app.connect('owner');
    expect((await owner.subscribe(`/${P}/project_users/users/ag1`)).payload.message.isBusy).toBe(false);
    expect((await owner.subscribe(`/${P}/project_users/users/ag2`)).payload.message.isBusy).toBe(true);
    // the project raises its limit above ag2's own: the larger limit applies and ag2 is no longer busy
    await app.ingestOk({ type: 'project.update', data: f.project(P, { settings: { max_agent_assigned_chat: 10 } }) });
    const freed = await owner.waitFrame((fr) => fr.payload.topic === `/${P}/project_users/users/ag2` && fr.payload.method === 'UPDATE');
    expect(freed.payload.message.isBusy).toBe(false);
  });

  it('lets any member watch an active project_user by user id or uuid_user on T5; not_found otherwise', async () => {
    await app.ingestOk({
      type: 'project_user.create',
      data: { ...f.projectUser(P, 'ext', 'agent'), id_user: undefined, uuid_user: 'uuid-ext' },
    });
    const sup = await app.connect('sup');
    expect((await sup.subscribe(`/${P}/project_users/users/ag1`)).payload.message.id_user).toBe('ag1');
    expect((await sup.subscribe(`/${P}/project_users/users/uuid-ext`)).payload.message.uuid_user).toBe('uuid-ext');
    expect((await sup.subscribe(`/${P}/project_users/users/off`)).payload.code).toBe('not_found');
    expect((await sup.subscribe(`/${P}/project_users/users/ghost`)).payload.code).toBe('not_found');
    // the Tiledesk envelope with a populated id_user publishes on /users/<id>
    await app.ingestOk({
      type: 'project_user_update',
      data: {
        updatedProject_userPopulated: {
          ...f.projectUser(P, 'ag1', 'agent', { user_available: false }),
          id_user: { _id: 'ag1', firstname: 'A' },
        },
        req: {},
      },
    });
    const upd = await sup.waitFrame((fr) => fr.payload.topic === `/${P}/project_users/users/ag1` && fr.payload.method === 'UPDATE');
    expect(upd.payload.message.user_available).toBe(false);
  });
});

describe('T6 events and T7 bots', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp({ WS_HISTORY_EVENTS_LIMIT: '2' });
    await seedMembers(app);
  });
  afterEach(() => app.close());

  it('snapshots the newest events first and publishes on both /events/PU and /events/PU/NAME (the original never published the named form)', async () => {
    const pu = `pu-${P}-ag1`;
    await app.ingestOk(['typing', 'rating', 'typing'].map((name) => ({ type: 'event.emit', data: f.event(P, pu, name) })));
    const c = await app.connect('ag2');
    const all = await c.subscribe(`/${P}/events/${pu}`);
    expect(all.payload.message.map((e: any) => e.name)).toEqual(['typing', 'rating']);
    const named = await c.subscribe(`/${P}/events/${pu}/rating`);
    expect(named.payload.message.map((e: any) => e.name)).toEqual(['rating']);
    await app.ingestOk({ type: 'event.emit', data: f.event(P, { _id: pu, role: 'agent' } as any, 'rating', { attributes: { score: 5 } }) });
    await c.sync();
    expect(
      c
        .topicFrames(`/${P}/events/${pu}`)
        .slice(1)
        .map((fr) => fr.payload.method),
    ).toEqual(['CREATE']);
    expect(
      c
        .topicFrames(`/${P}/events/${pu}/rating`)
        .slice(1)
        .map((fr) => fr.payload.message.attributes),
    ).toEqual([{ score: 5 }]);
  });

  it('serves a bot without its secret, null when unknown, and UPDATE on change', async () => {
    const c = await app.connect('ag1');
    expect((await c.subscribe(`/${P}/bots/nobot`)).payload.message).toBeNull();
    await app.ingestOk({ type: 'faqbot.update', data: f.bot(P, 'b1', { secret: 'hunter2' }) });
    const snap = await c.subscribe(`/${P}/bots/b1`);
    expect(snap.payload.message).toMatchObject({ _id: 'b1' });
    expect(snap.payload.message).not.toHaveProperty('secret');
    await app.ingestOk({ type: 'faqbot_update', data: f.bot(P, 'b1', { trained: true, secret: 'hunter2' }) });
    const upd = await c.waitFrame((fr) => fr.payload.method === 'UPDATE');
    expect(upd.payload.message.trained).toBe(true);
    expect(upd.payload.message).not.toHaveProperty('secret');
  });

  it('refuses events and bots to non-members (the original let any token holder watch them)', async () => {
    const c = await app.connect('stranger');
    expect((await c.subscribe(`/${P}/events/pu-${P}-ag1`)).payload.code).toBe('forbidden');
    expect((await c.subscribe(`/${P}/bots/b1`)).payload.code).toBe('forbidden');
  });
});

describe('membership changes take effect at once', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
    await seedMembers(app);
    await app.ingestOk([
      { type: 'request.create', data: f.request(P, 'm1', { status: 200, participants: ['ag1'] }) },
      { type: 'request.create', data: f.request(P, 'm2', { status: 100 }) },
    ]);
  });
  afterEach(() => app.close());

  it.each([
    ['disabled', { type: 'project_user.update', data: () => f.projectUser(P, 'ag1', 'agent', { status: 'disabled' }) }],
    ['demoted to user', { type: 'project_user.update', data: () => f.projectUser(P, 'ag1', 'user') }],
    ['deleted', { type: 'project_user.delete', data: () => ({ _id: `pu-${P}-ag1`, id_project: P }) }],
  ])('a member %s loses every subscription of the project with error forbidden', async (_what, ev) => {
    const ag1 = await app.connect('ag1');
    const topics = [
      `/${P}/requests`,
      `/${P}/requests/m1`,
      `/${P}/requests/m1/messages`,
      `/${P}/project_users/pu-${P}-ag1`,
      `/${P}/bots/b1`,
    ];
    for (const t of topics) expect((await ag1.subscribe(t)).action).toBe('publish');
    await app.ingestOk({ type: ev.type, data: ev.data() });
    await ag1.sync();
    for (const t of topics) expect(ag1.topicFrames(t).at(-1)).toMatchObject({ action: 'error', payload: { code: 'forbidden', topic: t } });
    const from = ag1.frames.length;
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'm1', { status: 200, participants: ['ag1'], first_text: 'later' }) });
    await ag1.sync();
    expect(ag1.dataFrames(from)).toEqual([]);
    expect((await ag1.subscribe(`/${P}/requests`)).payload.code).toBe('forbidden');
  });

  it('an owner demoted to agent gets DELETE for what it no longer sees and a fresh list snapshot', async () => {
    await app.ingestOk({ type: 'request.create', data: f.request(P, 'm3', { status: 100 }) });
    const c = await app.connect('admin');
    await c.subscribe(`/${P}/requests`);
    await c.subscribe(`/${P}/requests/m2`);
    await app.ingestOk({ type: 'request.update', data: f.request(P, 'm1', { status: 200, participants: ['ag1', 'admin'] }) });
    await app.ingestOk({ type: 'project_user.update', data: f.projectUser(P, 'admin', 'agent') });
    await c.sync();
    const list = c.topicFrames(`/${P}/requests`).slice(2); // snapshot and the m1 update
    expect(list.map((fr) => [fr.payload.method, fr.payload.message.request_id])).toEqual([
      ['DELETE', 'm3'],
      ['DELETE', 'm2'],
      ['CREATE', undefined],
    ]);
    expect(list[2]!.payload.message.map((r: any) => r.request_id)).toEqual(['m1']);
    expect(c.topicFrames(`/${P}/requests/m2`).at(-1)).toMatchObject({ action: 'error', payload: { code: 'forbidden' } });
  });

  it('a disabled project ends every subscription and refuses new ones', async () => {
    const owner = await app.connect('owner');
    await owner.subscribe(`/${P}/requests`);
    await app.ingestOk({ type: 'project.update', data: f.project(P, { status: 0 }) });
    const err = await owner.waitFrame((fr) => fr.action === 'error');
    expect(err.payload).toMatchObject({ topic: `/${P}/requests`, code: 'forbidden' });
    expect((await owner.subscribe(`/${P}/requests`)).payload.code).toBe('forbidden');
  });
});
