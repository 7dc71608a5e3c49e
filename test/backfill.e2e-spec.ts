import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackfillOptions, parseBackfillArgs } from '../src/cli/backfill/backfill-args';
import { BackfillIo, BackfillResult, runBackfill } from '../src/cli/backfill/backfill-runner';
import { ProjectDoc, ProjectUserDoc } from '../src/domain/documents';
import { toWireProjectUser, toWireRequest, withoutSecret } from '../src/domain/transforms';
import { freeLoopbackPort } from '../src/ops/cluster-local/managed-process';
import * as f from './helpers/factories';
import { FakeTiledesk, FakeTiledeskData, startFakeTiledesk } from './helpers/fake-tiledesk';
import { INGEST_TOKEN, startTestApp, TestApp } from './helpers/test-app';
import { TEST_SECRET, userToken } from './helpers/tokens';
import { TestClient } from './helpers/ws-client';

/**
 * `npm run backfill` (ingest.md §3) against the real service (memory engine, port 0): from a JSON Lines
 * file and from a fake Tiledesk REST server with Tiledesk's routes and shapes. What a user would check:
 * the snapshots afterwards equal the source documents as the service transforms them, a second run
 * applies nothing and publishes nothing, a dry run sends nothing, and failures exit with a clear message.
 */

const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'dist', 'cli', 'backfill.main.js');

let tmp: string;
beforeAll(() => (tmp = mkdtempSync(join(tmpdir(), 'backfill-e2e-'))));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function options(argv: string[]): BackfillOptions {
  const parsed = parseBackfillArgs(argv, {});
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.options;
}

/** Runs the backfill in-process, capturing its stdout lines and stderr text. */
async function backfill(argv: string[], extra: Partial<BackfillIo> = {}): Promise<BackfillResult & { out: string[]; err: string }> {
  const out: string[] = [];
  let err = '';
  const result = await runBackfill(options(argv), { out: (l) => out.push(l), err: (t) => (err += t), ...extra });
  return { ...result, out, err };
}

/** The snapshot (`message` of the CREATE) of a topic, on a fresh subscription. */
async function snapshot(c: TestClient, topic: string): Promise<any> {
  const frame = await c.subscribe(topic);
  if (frame.action !== 'publish') throw new Error(`${topic}: ${JSON.stringify(frame.payload)}`);
  return frame.payload.message;
}

const byUpdatedDesc = (a: any, b: any) => String(b.updatedAt).localeCompare(String(a.updatedAt));

function writeJsonl(name: string, lines: unknown[]): string {
  const path = join(tmp, name);
  writeFileSync(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return path;
}

/** The compiled CLI as an operator runs it (`npm run backfill` is `node dist/cli/backfill.main.js` after a build). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [MAIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('backfill from a JSON Lines file', () => {
  let app: TestApp;
  beforeAll(async () => (app = await startTestApp()));
  afterAll(() => app.close());

  const P = 'bf-file';
  const project = f.project(P, { settings: { max_agent_assigned_chat: 2 } });
  const owner = f.projectUser(P, 'bf-owner', 'owner');
  const agent = f.projectUser(P, 'bf-agent', 'agent', {
    number_assigned_requests: 2,
    id_user: { _id: 'bf-agent', firstname: 'Ada', lastname: 'L' },
  });
  const requests = [
    f.request(P, 'support-group-bf-1', { status: 200, participants: ['bf-agent'], agents: ['bf-agent'] }),
    f.request(P, 'support-group-bf-2', { status: 100 }),
  ];
  const messages = [
    ...[1, 2, 3].map((i) =>
      f.message(P, 'support-group-bf-1', { text: `first request, message ${i}`, sender: i === 2 ? 'bf-agent' : 'guest-1' }),
    ),
    ...[1, 2].map((i) => f.message(P, 'support-group-bf-2', { text: `second request, message ${i}` })),
  ];
  const bot = f.bot(P, 'bf-bot', { secret: 'bot-secret', trained: true, language: 'en' });

  function envelopes(): unknown[] {
    return [
      { type: 'project.update', data: project },
      { type: 'project_user.update', data: owner },
      // Tiledesk's fan-out spelling of the same type is accepted too.
      { type: 'project_user_update', data: agent },
      '',
      ...requests.map((r) => ({ type: 'request.update', data: r })),
      ...messages.map((m) => ({ type: 'message.create', data: m })),
      { type: 'faqbot.update', data: bot },
    ];
  }

  async function allSnapshots(c: TestClient) {
    return {
      requests: await snapshot(c, `/${P}/requests`),
      messages1: await snapshot(c, `/${P}/requests/support-group-bf-1/messages`),
      messages2: await snapshot(c, `/${P}/requests/support-group-bf-2/messages`),
      bot: await snapshot(c, `/${P}/bots/bf-bot`),
      agent: await snapshot(c, `/${P}/project_users/users/bf-agent`),
    };
  }

  it('loads the file; the snapshots equal the source documents; a second run changes nothing', async () => {
    const path = writeJsonl('source.jsonl', envelopes());
    const first = await backfill(['--file', path, '--target', app.httpUrl, '--ingest-token', INGEST_TOKEN]);
    expect(first.exitCode).toBe(0);
    expect(first.summary.total).toEqual({ read: 11, sent: 11, accepted: 11, duplicates: 0, stale: 0, failed: 0 });
    expect(Object.fromEntries(Object.entries(first.summary.byType).map(([t, c]) => [t, c.accepted]))).toEqual({
      'project.update': 1,
      'project_user.update': 2,
      'request.update': 2,
      'message.create': 5,
      'faqbot.update': 1,
    });
    expect(first.err).toContain(`backfill done in`);

    const c = await app.connect('bf-owner');
    const snaps = await allSnapshots(c);
    expect(snaps.requests).toEqual([...requests].sort(byUpdatedDesc).map((r) => toWireRequest(r)));
    expect(snaps.messages1).toEqual(messages.slice(0, 3));
    expect(snaps.messages2).toEqual(messages.slice(3));
    expect(snaps.bot).toEqual(withoutSecret(bot));
    expect(snaps.bot.secret).toBeUndefined();
    expect(snaps.agent).toEqual(toWireProjectUser(agent as unknown as ProjectUserDoc, project as unknown as ProjectDoc));
    expect(snaps.agent.isBusy).toBe(true);

    // Again: every event comes back as a duplicate, nothing is published, the snapshots are the same.
    await c.sync();
    const framesBefore = c.dataFrames().length;
    const second = await backfill(['--file', path, '--target', app.httpUrl, '--ingest-token', INGEST_TOKEN]);
    expect(second.exitCode).toBe(0);
    expect(second.summary.total).toEqual({ read: 11, sent: 11, accepted: 0, duplicates: 11, stale: 0, failed: 0 });
    await c.sync();
    expect(c.dataFrames().length).toBe(framesBefore);
    const again = await app.connect('bf-owner');
    expect(await allSnapshots(again)).toEqual(snaps);
  });

  it('names a bad line by its number, applies the good ones and exits 1', async () => {
    const late = f.request(P, 'support-group-bf-3', { status: 100 });
    const path = writeJsonl('bad.jsonl', [
      { type: 'request.update', data: late },
      '{"type": "message.create", "data": ',
      { type: 'message.create', data: { ...f.message(P, 'support-group-bf-3'), recipient: undefined } },
      { type: 'message.create', data: f.message(P, 'support-group-bf-3', { text: 'kept' }) },
    ]);
    const r = await backfill(['--file', path, '--target', app.httpUrl, '--ingest-token', INGEST_TOKEN]);
    expect(r.exitCode).toBe(1);
    expect(r.summary.problems).toEqual([
      expect.stringMatching(new RegExp(`^${path}:2: not JSON`)),
      `${path}:3: message.create: data.recipient: required`,
    ]);
    expect(r.summary.byType['message.create']).toEqual({ read: 2, sent: 1, accepted: 1, duplicates: 0, stale: 0, failed: 1 });
    expect(r.err).toContain(`${path}:3: message.create: data.recipient: required`);
    const c = await app.connect('bf-owner');
    expect((await snapshot(c, `/${P}/requests/support-group-bf-3/messages`)).map((m: any) => m.text)).toEqual(['kept']);
  });
});

/** Tiledesk-shaped data: ObjectId-like ids, populated users, requests of every status, bots with secrets. */
function tiledeskData() {
  const users = ['Owner', 'Ada', 'Bob', 'Cy'].map((name) => ({
    _id: f.oid(),
    firstname: name,
    lastname: 'Test',
    email: `${name.toLowerCase()}@example.test`,
    emailverified: true,
    status: 100,
  }));
  const [owner, ada, bob, cy] = users as [any, any, any, any];
  const p1 = f.project(f.oid(), { name: 'Support', settings: { max_agent_assigned_chat: 3 }, createdAt: f.nextTime(), __v: 0 });
  const p2 = f.project(f.oid(), { name: 'Sales', settings: {}, createdAt: f.nextTime(), __v: 0 });
  const p3 = f.project(f.oid(), { name: 'Closed down', status: 0 });
  const pu = (p: any, u: any, role: string, extra: Record<string, unknown> = {}) =>
    f.projectUser(p._id, u._id, role, { _id: f.oid(), user_available: true, ...extra });
  const members1 = [
    pu(p1, owner, 'owner'),
    pu(p1, ada, 'agent', { number_assigned_requests: 3 }),
    pu(p1, bob, 'agent', { number_assigned_requests: 1, max_assigned_chat: 5 }),
    pu(p1, cy, 'agent', { status: 'disabled' }),
    f.projectUser(p1._id, 'guest-uuid-1', 'guest', { _id: f.oid(), uuid_user: 'guest-uuid-1', roleType: 2 }),
    pu(p1, cy, 'supervisor', { trashed: true }),
  ];
  const request = (p: any, status: number, extra: Record<string, unknown> = {}) => {
    const requestId = `support-group-${p._id}-${f.oid()}`;
    return f.request(p._id, requestId, {
      _id: f.oid(),
      status,
      ticket_id: Math.floor(Math.random() * 10_000),
      participants: status === 200 ? [ada._id] : [],
      participantsAgents: status === 200 ? [ada._id] : [],
      agents: [ada._id, bob._id],
      lead: { _id: f.oid(), lead_id: 'guest-uuid-1', fullname: 'Visitor', email: 'visitor@example.test', attributes: {} },
      department: { _id: 'dep', name: 'Default Department', routing: 'assigned', default: true },
      requester: { _id: 'pu-guest', uuid_user: 'guest-uuid-1', role: 'guest', id_user: null },
      ...extra,
    });
  };
  // 230 open requests (three pages of Tiledesk's 100), and others the backfill must not load.
  const open1 = Array.from({ length: 230 }, (_, i) => request(p1, [100, 200, 300][i % 3]!));
  const notOpen = [...[1000, 1000, 50, 150].map((s) => request(p1, s)), request(p1, 100, { preflight: true })];
  const messages1: Record<string, any[]> = {};
  const chat = (p: any, r: any, n: number) => {
    messages1[r.request_id] = Array.from({ length: n }, (_, i) =>
      f.message(p._id, r.request_id, {
        _id: f.oid(),
        text: `message ${i}`,
        sender: i % 2 ? ada._id : 'guest-uuid-1',
        senderFullname: i % 2 ? 'Ada' : 'Visitor',
      }),
    );
  };
  open1.slice(0, 6).forEach((r, i) => chat(p1, r, 2 + i));
  chat(p1, open1[6], 320);
  chat(p1, notOpen[0], 3);
  const bots1 = [
    f.bot(p1._id, f.oid(), { name: 'Helper', type: 'tilebot', secret: 'do-not-leak', trained: true, language: 'en', trashed: false }),
    f.bot(p1._id, f.oid(), { name: 'Identity', type: 'identity' }),
    f.bot(p1._id, f.oid(), { name: 'Old', trashed: true }),
  ];
  const open2 = Array.from({ length: 3 }, () => request(p2, 100));
  const data: FakeTiledeskData = {
    users,
    projects: [
      { project: p1, projectUsers: members1, requests: [...open1, ...notOpen], messages: messages1, bots: bots1 },
      {
        project: p2,
        projectUsers: [pu(p2, owner, 'admin')],
        requests: open2,
        messages: {},
        bots: [f.bot(p2._id, f.oid(), { name: 'Sales bot' })],
      },
      { project: p3, projectUsers: [pu(p3, owner, 'owner')], requests: [request(p3, 100)], messages: {}, bots: [] },
    ],
  };
  return { data, owner, ada, bob, p1, p2, p3, open1, open2, notOpen, messages1, bots1, members1 };
}

/** A document as Tiledesk's list answers it (snapshot.agents is never selected). */
function listed(r: any) {
  const snapshot = { ...r.snapshot };
  delete snapshot.agents;
  return { ...r, snapshot };
}

describe('backfill from the Tiledesk REST API', () => {
  let app: TestApp;
  let tiledesk: FakeTiledesk;
  const t = tiledeskData();
  // Tiledesk and the service share GLOBAL_SECRET: the same user token opens both.
  const token = `JWT ${userToken(t.owner._id)}`;

  const page1 = (path: string, q: URLSearchParams) => path === `/${t.p1._id}/requests` && q.get('page') === '1';
  const busyRequest = t.open1[0]!;
  const messagesOf = (path: string) => path === `/${t.p1._id}/requests/${busyRequest.request_id}/messages`;
  let first: Awaited<ReturnType<typeof backfill>>;
  const args = () => ['--api', tiledesk.url, '--token', token, '--target', app.httpUrl, '--ingest-token', INGEST_TOKEN];

  beforeAll(async () => {
    // Every open request fits in the list snapshot, so the whole load can be compared.
    app = await startTestApp({ WS_HISTORY_REQUESTS_LIMIT: '1000' });
    tiledesk = await startFakeTiledesk(t.data, TEST_SECRET);
    tiledesk.failOnce(page1, 429, { 'retry-after': '1' });
    tiledesk.failOnce(messagesOf, 503);
    first = await backfill(args());
  });
  afterAll(async () => {
    await app.close();
    await tiledesk.close();
  });

  it('loads projects, members, every page of open requests, their newest messages and bots, retrying a 429 and a 503', async () => {
    const r = first;
    expect(r.summary.problems).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(tiledesk.pendingFaults()).toBe(0);

    // The retries: the 429'd page again after its Retry-After, the 503'd messages again; Tiledesk's auth scheme throughout.
    const pageCalls = tiledesk.calls.filter((c) => page1(c.path, c.query));
    expect(pageCalls.map((c) => c.status)).toEqual([429, 200]);
    expect(pageCalls[1]!.at - pageCalls[0]!.at).toBeGreaterThanOrEqual(990);
    expect(tiledesk.calls.filter((c) => messagesOf(c.path)).map((c) => c.status)).toEqual([503, 200]);
    expect(r.err).toMatch(
      /retrying http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]+\/requests\?\S+ in 1\.0 s \(HTTP 429: Too Many Requests; attempt 1 failed\)/,
    );
    expect(new Set(tiledesk.calls.map((c) => c.authorization))).toEqual(new Set([token]));
    expect(
      tiledesk.calls.filter((c) => c.path.startsWith(`/${t.p1._id}/requests`) && c.query.has('page')).map((c) => c.query.get('page')),
    ).toEqual(['0', '1', '1', '2']);
    // A disabled project is announced and nothing more is read from it.
    expect(tiledesk.calls.some((c) => c.path.startsWith(`/${t.p3._id}/`))).toBe(false);

    const n = (type: string) => r.summary.byType[type];
    expect(n('project.update')).toMatchObject({ read: 3, accepted: 3 });
    expect(n('project_user.update')).toMatchObject({ read: 4 + 1, accepted: 5 });
    expect(n('request.update')).toMatchObject({ read: 233, accepted: 233 });
    expect(n('message.create')).toMatchObject({ read: 2 + 3 + 4 + 5 + 6 + 7 + 300, accepted: 327 });
    expect(n('faqbot.update')).toMatchObject({ read: 2, accepted: 2 });
    expect(r.summary.total.failed).toBe(0);

    const c = await app.connect(t.owner._id);
    // Every open request, none of the others, each as the service transforms the listed document.
    const list = await snapshot(c, `/${t.p1._id}/requests`);
    expect(list).toEqual(
      t.open1
        .map(listed)
        .sort(byUpdatedDesc)
        .map((d) => toWireRequest(d)),
    );
    // The newest 300 of 320 messages; the others as they are.
    expect(await snapshot(c, `/${t.p1._id}/requests/${t.open1[6]!.request_id}/messages`)).toEqual(
      t.messages1[t.open1[6]!.request_id]!.slice(-300),
    );
    for (const req of t.open1.slice(0, 6))
      expect(await snapshot(c, `/${t.p1._id}/requests/${req.request_id}/messages`)).toEqual(t.messages1[req.request_id]);
    const [helper, identity] = [t.bots1[0]!, t.bots1[1]!];
    expect(await snapshot(c, `/${t.p1._id}/bots/${helper._id}`)).toEqual(withoutSecret(helper));
    expect(await snapshot(c, `/${t.p1._id}/bots/${identity._id}`)).toBeNull();
    // A member with the populated user Tiledesk lists, and isBusy as the service computes it.
    const ada = await snapshot(c, `/${t.p1._id}/project_users/users/${t.ada._id}`);
    expect(ada).toEqual(
      expect.objectContaining({ _id: t.members1[1]!._id, id_user: t.ada, role: 'agent', number_assigned_requests: 3, isBusy: true }),
    );
    expect((await snapshot(c, `/${t.p1._id}/project_users/users/${t.bob._id}`)).isBusy).toBe(false);
    expect((await snapshot(c, `/${t.p2._id}/requests`)).map((x: any) => x._id).sort()).toEqual(t.open2.map((x) => x._id).sort());
    expect((await c.subscribe(`/${t.p3._id}/requests`)).payload).toMatchObject({ code: 'forbidden' });
  });

  it('changes nothing on a second run', async () => {
    expect(first.exitCode).toBe(0);
    const c = await app.connect(t.owner._id);
    const topics = [
      `/${t.p1._id}/requests`,
      `/${t.p1._id}/requests/${t.open1[6]!.request_id}/messages`,
      `/${t.p1._id}/bots/${t.bots1[0]!._id}`,
      `/${t.p1._id}/project_users/users/${t.ada._id}`,
      `/${t.p2._id}/requests`,
    ];
    const before: unknown[] = [];
    for (const topic of topics) before.push(await snapshot(c, topic));
    await c.sync();
    const frames = c.dataFrames().length;

    const r = await backfill(args());
    expect(r.exitCode).toBe(0);
    expect(r.summary.total.read).toBe(3 + 5 + 233 + 327 + 2);
    expect(r.summary.total.accepted).toBe(0);
    expect(r.summary.total.duplicates + r.summary.total.stale).toBe(r.summary.total.read);

    await c.sync();
    expect(c.dataFrames().length).toBe(frames);
    const after: unknown[] = [];
    for (const topic of topics) after.push(await snapshot(c, topic));
    expect(after).toEqual(before);
  });

  it('sends nothing with --dry-run, and prints what it would send', async () => {
    const empty = await startTestApp();
    try {
      const posts: string[] = [];
      const recording = ((input: string, init?: RequestInit) => {
        if (init?.method === 'POST') posts.push(input);
        return fetch(input, init);
      }) as typeof fetch;
      const r = await backfill(['--api', tiledesk.url, '--token', token, '--target', empty.httpUrl, '--dry-run'], { fetch: recording });
      expect(r.exitCode).toBe(0);
      expect(posts).toEqual([]);
      expect(r.out).toHaveLength(r.summary.total.read);
      expect(r.summary.total.read).toBe(570);
      expect(r.summary.total.sent).toBe(0);
      const printed = r.out.map((l) => JSON.parse(l));
      expect(printed[0]).toEqual({ type: 'project.update', data: expect.objectContaining({ _id: expect.any(String) }) });
      expect(printed.filter((e) => e.type === 'request.update')).toHaveLength(233);
      expect(r.err).toContain('dry run done');
      // The service knows nothing: the owner is not even a member of the project there.
      const c = await empty.connect(t.owner._id);
      expect((await c.subscribe(`/${t.p1._id}/requests`)).payload).toMatchObject({ code: 'forbidden' });
    } finally {
      await empty.close();
    }
  });

  it('stops at once on a token Tiledesk refuses', async () => {
    const r = await backfill(['--api', tiledesk.url, '--token', 'not-a-jwt', '--target', app.httpUrl, '--ingest-token', INGEST_TOKEN]);
    expect(r.exitCode).toBe(1);
    expect(r.summary.fatal).toBe(
      `the Tiledesk API refused the token (HTTP 401) at GET ${tiledesk.url}/projects/: give a valid user JWT with --token`,
    );
    expect(r.summary.total.read).toBe(0);
  });
});

describe('the backfill CLI', () => {
  let app: TestApp;
  beforeAll(async () => (app = await startTestApp()));
  afterAll(() => app.close());

  it('loads a file and prints its summary (exit 0)', async () => {
    const P = 'bf-cli';
    const path = writeJsonl('cli.jsonl', [
      { type: 'project.update', data: f.project(P) },
      { type: 'project_user.update', data: f.projectUser(P, 'cli-owner', 'owner') },
      { type: 'request.update', data: f.request(P, 'support-group-cli', { status: 100 }) },
    ]);
    const r = await cli(['--file', path, '--target', app.httpUrl], { INGEST_TOKEN });
    expect(r.stderr).toContain('backfill done in');
    expect(r.stderr).toMatch(/total\s+3\s+3\s+3\s+0\s+0\s+0/);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
    const c = await app.connect('cli-owner');
    expect((await snapshot(c, `/${P}/requests`)).map((x: any) => x.request_id)).toEqual(['support-group-cli']);
  });

  it('fails with exit 1 and a message naming the URL when the Tiledesk API cannot be reached', async () => {
    const port = await freeLoopbackPort();
    const r = await cli(['--api', `http://127.0.0.1:${port}`, '--token', 'JWT x.y.z', '--target', app.httpUrl, '--retries', '1'], {
      INGEST_TOKEN,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `stopped: cannot reach the Tiledesk API at http://127.0.0.1:${port}/projects/: connection refused (ECONNREFUSED) (after 2 attempts)`,
    );
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('fails with exit 1 and a message naming the URL when the service cannot be reached', async () => {
    const port = await freeLoopbackPort();
    const path = writeJsonl('unsent.jsonl', [{ type: 'project.update', data: f.project('bf-unsent') }]);
    const r = await cli(['--file', path, '--target', `http://127.0.0.1:${port}`, '--ingest-token', 't', '--retries', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `cannot reach the realtime service at http://127.0.0.1:${port}/v1/events: connection refused (ECONNREFUSED)`,
    );
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('exits 2 on bad arguments, saying what is wrong and how to call it', async () => {
    const r = await cli(['--batch', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('a source is required');
    expect(r.stderr).toContain('--batch "0": an integer from 1 to 500');
    expect(r.stderr).toContain('Usage:');
    const unknown = await cli(['--file', 'x.jsonl', '--frobnicate']);
    expect(unknown.code).toBe(2);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('reload procedure after a Redis that came back empty');
  });
});
