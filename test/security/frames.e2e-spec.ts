import * as f from '../helpers/factories';
import { Random } from '../helpers/random';
import { startTestApp, TestApp } from '../helpers/test-app';
import { userToken } from '../helpers/tokens';
import { waitFor } from '../helpers/wait-for';
import { Frame, TestClient } from '../helpers/ws-client';
import { answerKey, FrameFuzzer, FuzzFrame, shortTopic, tally } from './frame-fuzz';

/**
 * Hostile client frames (protocol.md §2): a seeded flood of malformed, oversized, deeply nested,
 * prototype-polluting and mistyped frames from one connection, while a victim connection keeps receiving
 * every live frame of its project. The attacker gets exactly one answer per frame (the one §2 promises),
 * never a frame of a topic it may not see; the process stays up, no prototype is polluted, memory stays
 * bounded. FUZZ_SEED=<n> replays another flood.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20260311);
const FLOOD_FRAMES = 3000;
const LIVE_REQUESTS = 40;
const MAX_PAYLOAD = 65_536;

const OWN = 'fz-att';
const FOREIGN = 'fz-vic';
const ATTACKER = 'fz-attacker';
const VICTIM = 'fz-owner';
const SECRET = 'FZ-SECRET-MARKER';

/** Rate, connection and buffer limits far above what the flood needs: this spec exercises parsing, not limits. */
const UNLIMITED = {
  RATE_FRAMES_PER_S: '100000',
  RATE_FRAMES_BURST: '100000',
  RATE_CONN_PER_USER_PER_MIN: '100000',
  RATE_CONN_PER_IP_PER_MIN: '100000',
  MAX_SUBSCRIPTIONS_PER_CONN: '100000',
  INGEST_RATE_PER_S: '100000',
  WS_MAX_BUFFERED_BYTES: String(256 * 1024 * 1024),
};

function prototypeKeys(): Record<string, string[]> {
  return {
    object: Object.getOwnPropertyNames(Object.prototype).sort(),
    array: Object.getOwnPropertyNames(Array.prototype).sort(),
    function: Object.getOwnPropertyNames(Function.prototype).sort(),
    string: Object.getOwnPropertyNames(String.prototype).sort(),
  };
}

function expectNoPollution(before: Record<string, string[]>): void {
  expect(({} as any).polluted).toBeUndefined();
  expect(([] as any).polluted).toBeUndefined();
  expect((Object.create(null) as Record<string, unknown>).polluted).toBeUndefined();
  expect(JSON.parse('{}').polluted).toBeUndefined();
  expect(prototypeKeys()).toEqual(before);
}

function heapMb(): number {
  const gc = (global as { gc?: () => void }).gc;
  if (gc) gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

const liveKey = (fr: Frame) => `${fr.payload.method}:${fr.payload.message?.request_id}`;

describe('a flood of hostile frames', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ ...UNLIMITED, WS_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD) });
    await app.ingestOk([
      { type: 'project.update', data: f.project(FOREIGN) },
      { type: 'project_user.create', data: f.projectUser(FOREIGN, VICTIM, 'owner') },
      { type: 'request.create', data: f.request(FOREIGN, 'fz-r0', { status: 200, participants: [VICTIM], first_text: SECRET }) },
      { type: 'project.update', data: f.project(OWN) },
      { type: 'project_user.create', data: f.projectUser(OWN, ATTACKER, 'agent') },
      { type: 'request.create', data: f.request(OWN, 'att-r0', { status: 200, participants: ['someone-else'] }) },
    ]);
  });
  afterAll(() => app.close());

  it('answers each frame as §2 says, leaks nothing, keeps the victim fed, and the process stays up and unpolluted', async () => {
    const protoBefore = prototypeKeys();
    const heapBefore = heapMb();

    const victim = await app.connect(VICTIM);
    const snap = await victim.subscribe(`/${FOREIGN}/requests`);
    expect(snap.payload.message.map((r: any) => r.request_id)).toEqual(['fz-r0']);
    expect((await victim.subscribe(`/${FOREIGN}/requests/fz-r0`)).action).toBe('publish');
    const victimFrom = victim.frames.length;

    const attacker = await app.connect(ATTACKER);
    const fuzzer = new FrameFuzzer(new Random(SEED), {
      own: OWN,
      foreign: FOREIGN,
      foreignRequest: 'fz-r0',
      foreignPu: `pu-${FOREIGN}-${VICTIM}`,
      ownPu: `pu-${OWN}-${ATTACKER}`,
      maxPayload: MAX_PAYLOAD,
    });
    const flood: FuzzFrame[] = fuzzer.frames(FLOOD_FRAMES);
    const kinds = tally(flood.map((fr) => fr.kind));
    // The seed must have produced every kind of frame, or the flood proves less than it claims.
    for (const k of [
      'binary',
      'text',
      'nested',
      'huge',
      'proto',
      'actionType',
      'payloadType',
      'topicType',
      'topicString',
      'unknownAction',
      'spoof',
      'valid',
    ]) {
      expect(kinds[k] ?? 0).toBeGreaterThan(10);
    }

    // The flood and the victim's live events at the same time.
    const sending = (async () => {
      for (let i = 0; i < flood.length; i++) {
        const fr = flood[i]!;
        attacker.ws.send(fr.data, { binary: fr.binary });
        if (i % 25 === 24) await new Promise((r) => setImmediate(r));
      }
    })();
    const expectedLive: string[] = [];
    const ingesting = (async () => {
      for (let i = 0; i < LIVE_REQUESTS; i++) {
        const rid = `fz-live-${i}`;
        await app.ingestOk({ type: 'request.create', data: f.request(FOREIGN, rid, { status: 100, first_text: SECRET }) });
        await app.ingestOk({
          type: 'request.update',
          data: f.request(FOREIGN, rid, { status: 200, participants: [VICTIM], first_text: SECRET }),
        });
        expectedLive.push(`CREATE:${rid}`, `UPDATE:${rid}`);
        await app.ingestOk({
          type: 'request.update',
          data: f.request(FOREIGN, 'fz-r0', { status: 200, participants: [VICTIM], text: `u${i}` }),
        });
        expectedLive.push('UPDATE:fz-r0');
      }
    })();
    await Promise.all([sending, ingesting]);

    // Every frame that promises an answer gets exactly one, and nothing else arrives.
    const expected = tally(flood.flatMap((fr) => (fr.expect === null ? [] : [fr.expect])));
    const expectedCount = Object.values(expected).reduce((a, b) => a + b, 0);
    const answers = () => attacker.frames.filter((fr) => !(fr.action === 'heartbeat' && fr.payload.message?.text === 'ping'));
    const complete = await waitFor(() => answers().length >= expectedCount || attacker.closeInfo, {
      timeoutMs: 10_000,
      what: 'an answer to every flood frame',
    }).catch(() => false);
    expect(attacker.closeInfo).toBeNull();
    await attacker.sync();
    const got = answers();
    got.pop(); // the pong of sync()
    // On a timeout the difference of the two tallies names the frames that went unanswered.
    expect(tally(got.map(answerKey))).toEqual(expected);
    expect(complete).toBe(true);

    // Never a publish of a topic it may not see, never the foreign project's data, never a relayed spoof.
    for (const fr of attacker.frames.filter((x) => x.action === 'publish')) {
      expect(shortTopic(String(fr.payload.topic))).toMatch(new RegExp(`^/${OWN}/(requests|project_users/pu-${OWN}-${ATTACKER})$`));
    }
    expect(attacker.raw.some((t) => t.includes(SECRET))).toBe(false);
    for (const fr of attacker.frames.filter((x) => x.action === 'me')) expect(fr.payload.userId).toBe(ATTACKER);
    expect(attacker.frames.filter((x) => x.payload.code === 'rate_limited' || x.payload.code === 'internal')).toEqual([]);

    // The victim got every live frame, in order, once, and nothing spoofed.
    const liveTopic = (t: string) => victim.frames.slice(victimFrom).filter((fr) => fr.payload.topic === t);
    await waitFor(() => liveTopic(`/${FOREIGN}/requests`).length >= expectedLive.length, { timeoutMs: 10_000, what: 'every live frame' });
    await victim.sync();
    expect(liveTopic(`/${FOREIGN}/requests`).map(liveKey)).toEqual(expectedLive);
    expect(liveTopic(`/${FOREIGN}/requests/fz-r0`).map(liveKey)).toEqual(Array(LIVE_REQUESTS).fill('UPDATE:fz-r0'));
    expect(victim.raw.some((t) => t.includes('SPOOFED'))).toBe(false);
    expect(victim.closeInfo).toBeNull();

    // The process is up, serves new clients and is not polluted.
    expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
    const late = await app.connect(VICTIM);
    expect((await late.subscribe(`/${FOREIGN}/requests`)).payload.message).toHaveLength(LIVE_REQUESTS + 1);
    expectNoPollution(protoBefore);
    const grown = heapMb() - heapBefore;
    expect(grown).toBeLessThan(200);
  }, 30_000);

  it.each<[string, string, (fr: Frame) => void]>([
    [
      'a subscribe whose payload has __proto__ beside a foreign topic',
      `{"action":"subscribe","payload":{"__proto__":{"polluted":true},"topic":"/${FOREIGN}/requests"}}`,
      (fr) => expect(fr.payload).toMatchObject({ code: 'forbidden', topic: `/${FOREIGN}/requests` }),
    ],
    [
      'a subscribe whose only topic is inside __proto__',
      `{"action":"subscribe","payload":{"__proto__":{"topic":"/${OWN}/requests"}}}`,
      (fr) => expect(fr.payload).toMatchObject({ code: 'bad_request', topic: null }),
    ],
    [
      'an action inside __proto__',
      '{"__proto__":{"action":"me"}}',
      (fr) => expect(fr.payload).toMatchObject({ code: 'bad_request', topic: null }),
    ],
    [
      'an action inside constructor.prototype',
      '{"constructor":{"prototype":{"action":"me","polluted":true}}}',
      (fr) => expect(fr.payload).toMatchObject({ code: 'bad_request', topic: null }),
    ],
    ['the action "__proto__"', '{"action":"__proto__","payload":{}}', (fr) => expect(fr.payload.code).toBe('bad_request')],
    ['the action "constructor"', '{"action":"constructor","payload":{}}', (fr) => expect(fr.payload.code).toBe('bad_request')],
    ['the action "toString"', '{"action":"toString"}', (fr) => expect(fr.payload.code).toBe('bad_request')],
    [
      'a project named __proto__',
      '{"action":"subscribe","payload":{"topic":"/__proto__/requests"}}',
      (fr) => expect(fr.payload).toMatchObject({ code: 'forbidden', topic: '/__proto__/requests' }),
    ],
    [
      'a project named constructor',
      '{"action":"subscribe","payload":{"topic":"/constructor/bots/x"}}',
      (fr) => expect(fr.payload).toMatchObject({ code: 'forbidden', topic: '/constructor/bots/x' }),
    ],
    [
      'a bot named constructor in its own project',
      `{"action":"subscribe","payload":{"topic":"/${OWN}/bots/constructor"}}`,
      (fr) => expect(fr.payload).toEqual({ topic: `/${OWN}/bots/constructor`, method: 'CREATE', message: null }),
    ],
    [
      'a bot named __proto__ in its own project',
      `{"action":"subscribe","payload":{"topic":"/${OWN}/bots/__proto__"}}`,
      (fr) => expect(fr.payload).toEqual({ topic: `/${OWN}/bots/__proto__`, method: 'CREATE', message: null }),
    ],
    [
      'events of a project_user named __proto__',
      `{"action":"subscribe","payload":{"topic":"/${OWN}/events/__proto__"}}`,
      (fr) => expect(fr.payload).toEqual({ topic: `/${OWN}/events/__proto__`, method: 'CREATE', message: [] }),
    ],
    [
      'events named constructor',
      `{"action":"subscribe","payload":{"topic":"/${OWN}/events/constructor/constructor"}}`,
      (fr) => expect(fr.payload).toEqual({ topic: `/${OWN}/events/constructor/constructor`, method: 'CREATE', message: [] }),
    ],
    [
      'a request named __proto__',
      `{"action":"subscribe","payload":{"topic":"/${OWN}/requests/__proto__"}}`,
      (fr) => expect(fr.payload).toMatchObject({ code: 'not_found', topic: `/${OWN}/requests/__proto__` }),
    ],
    [
      'messages of a request named constructor',
      `{"action":"subscribe","payload":{"topic":"/${OWN}/requests/constructor/messages"}}`,
      (fr) => expect(fr.payload).toMatchObject({ code: 'not_found', topic: `/${OWN}/requests/constructor/messages` }),
    ],
    [
      'a project_user looked up by the user id __proto__',
      `{"action":"subscribe","payload":{"topic":"/${OWN}/project_users/users/__proto__"}}`,
      (fr) => expect(fr.payload).toMatchObject({ code: 'not_found', topic: `/${OWN}/project_users/users/__proto__` }),
    ],
    [
      'the project_user hasOwnProperty',
      `{"action":"subscribe","payload":{"topic":"/${OWN}/project_users/hasOwnProperty"}}`,
      (fr) => expect(fr.payload).toMatchObject({ code: 'forbidden', topic: `/${OWN}/project_users/hasOwnProperty` }),
    ],
  ])('answers %s exactly once, as the protocol says, with no pollution', async (_what, text, check) => {
    const protoBefore = prototypeKeys();
    const c = await app.connect(ATTACKER);
    c.send(text);
    const answer = await c.waitFrame((fr) => fr.action === 'error' || fr.action === 'publish');
    check(answer);
    await c.sync();
    expect(c.dataFrames()).toEqual([answer]);
    // The connection still works: the attacker's own topic is granted.
    expect((await c.subscribe(`/${OWN}/requests`)).action).toBe('publish');
    expectNoPollution(protoBefore);
  });

  it('survives a text frame that is not UTF-8: the sender is answered or closed, everyone else is served', async () => {
    const victim = await app.connect(VICTIM);
    await victim.subscribe(`/${FOREIGN}/requests/fz-r0`);
    const from = victim.frames.length;
    const bad = await app.connect(ATTACKER);
    bad.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d]), { binary: false });
    await waitFor(() => bad.closeInfo ?? bad.frames.find((fr) => fr.action === 'error'), { what: 'an answer or a close' });
    if (bad.closeInfo) expect([1007, 1008]).toContain(bad.closeInfo.code);
    else expect(bad.frames.find((fr) => fr.action === 'error')!.payload.code).toBe('bad_request');
    await app.ingestOk({
      type: 'request.update',
      data: f.request(FOREIGN, 'fz-r0', { status: 200, participants: [VICTIM], text: 'after-utf8' }),
    });
    await victim.waitFrame((fr) => fr.payload.message?.text === 'after-utf8', from);
    expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
  });
});

describe('frames over WS_MAX_PAYLOAD_BYTES', () => {
  const LIMIT = 1024;
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ ...UNLIMITED, WS_MAX_PAYLOAD_BYTES: String(LIMIT) });
    await app.ingestOk([
      { type: 'project_user.create', data: f.projectUser('fz-small', 'small-owner', 'owner') },
      { type: 'request.create', data: f.request('fz-small', 'small-r', { status: 100 }) },
    ]);
  });
  afterAll(() => app.close());

  /** A subscribe frame of exactly `bytes` bytes. */
  const frameOf = (bytes: number) => {
    const shell = '{"action":"subscribe","payload":{"topic":"/fz-small/requests","pad":""}}';
    return shell.replace('"pad":""', `"pad":"${'x'.repeat(bytes - shell.length)}"`);
  };

  it('answers a frame of exactly the limit', async () => {
    const c = await app.connect('small-owner');
    const text = frameOf(LIMIT);
    expect(Buffer.byteLength(text)).toBe(LIMIT);
    c.send(text);
    const snap = await c.waitFrame((fr) => fr.action === 'publish');
    expect(snap.payload.topic).toBe('/fz-small/requests');
    expect(c.closeInfo).toBeNull();
  });

  it.each<[string, (c: TestClient) => void]>([
    ['a text frame one byte over', (c) => c.send(frameOf(LIMIT + 1))],
    ['a text frame far over', (c) => c.send(frameOf(LIMIT * 64))],
    ['a binary frame over', (c) => c.ws.send(Buffer.alloc(LIMIT + 1, 0x41), { binary: true })],
    [
      'a message in small fragments that add up to over the limit',
      (c) => {
        for (let i = 0; i < 8; i++) c.ws.send('x'.repeat(200), { fin: i === 7, binary: false });
      },
    ],
  ])('closes %s with 1009, and other clients are served', async (_what, send) => {
    const watcher = await app.connect('small-owner');
    await watcher.subscribe('/fz-small/requests');
    const c = await TestClient.connect(`${app.wsUrl}?token=${userToken('small-owner')}`);
    send(c);
    expect((await c.waitClosed()).code).toBe(1009);
    // Nothing from the oversized frame was acted upon, and the others go on.
    expect(c.dataFrames()).toEqual([]);
    await app.ingestOk({ type: 'request.update', data: f.request('fz-small', 'small-r', { status: 200, participants: ['small-owner'] }) });
    await watcher.waitFrame((fr) => fr.payload.method === 'UPDATE');
    expect(watcher.closeInfo).toBeNull();
    expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
  });
});
