import Redis, { Cluster } from 'ioredis';
import { keySlot } from '../../bus/redis/key-slot';
import { Change, Envelope } from '../../domain/changes';
import { RequestDoc } from '../../domain/documents';
import { RedisConnections } from '../../engine/redis-connections';
import { validateEnvelope } from '../../ingest/event-validation';
import { parseTopic } from '../../protocol/topic-grammar';
import { CONTRACT_OPTIONS } from '../read-model.contract';
import { ApplyOutcome } from '../read-model';
import { RedisReadModel } from './redis-read-model';
import * as f from '../../../test/helpers/factories';
import { RedisCluster, RedisServer } from '../../../test/helpers/redis-server';
import { waitFor } from '../../../test/helpers/wait-for';

/**
 * An ingest event costs one Redis round trip in the common case (issue 12): the plan is made on guessed values
 * and the commit script checks them. These tests count the commands a replica sends (MONITOR on a real
 * redis-server) and show that a guess made wrong by another replica, a wipe or the sweep is retried into the
 * exact outcome, never committed.
 */

type Raw = { type: string; data: Record<string, unknown> };

/** One replica's read model on its own connections, with its retry counters. */
interface Replica {
  model: RedisReadModel;
  conns: RedisConnections;
  misses: number;
  conflicts: number;
  apply(raw: Raw): Promise<ApplyOutcome>;
}

async function replica(
  conns: RedisConnections,
  now: () => number = Date.now,
  ttl: Partial<typeof CONTRACT_OPTIONS> = {},
): Promise<Replica> {
  await conns.ready();
  const r: Replica = {
    conns,
    misses: 0,
    conflicts: 0,
    model: new RedisReadModel(conns, {
      ...CONTRACT_OPTIONS,
      ...ttl,
      channel: (p) => `rt:p:{${p}}`,
      now,
      onGuessMiss: () => r.misses++,
      onCommitRetry: () => r.conflicts++,
    }),
    apply: (raw) => r.model.apply(validateEnvelope(raw, 0, { maxEventBytes: 1 << 20 }).event, now()),
  };
  return r;
}

function envelopeOf(o: ApplyOutcome): Envelope {
  if (o.outcome !== 'applied') throw new Error(`expected applied, got ${o.outcome}`);
  return o.envelope;
}

function requestChange(o: ApplyOutcome): Extract<Change, { type: 'request' }> {
  const change = envelopeOf(o).change;
  if (change.type !== 'request') throw new Error(`expected a request change, got ${change.type}`);
  return change;
}

/** `updatedAt` of a request change's prev and next, to compare versions at a glance. */
const versions = (c: Extract<Change, { type: 'request' }>) => [c.prev?.updatedAt ?? null, c.next?.updatedAt ?? null];

/** The SADD that registers a project for the sweeps, once per replica and project: sent after the commit, not awaited. */
const isRegistration = (args: string[]) => args[0]?.toLowerCase() === 'sadd' && args[1] === 'rt:projects';

/**
 * The commands one client connection sends to a redis-server, seen through MONITOR (commands a script runs show
 * as `lua` and are not counted). Markers sent on a probe connection delimit what an action sent.
 */
class CommandLog {
  private readonly seen: Array<{ args: string[]; source: string }> = [];
  private markers = 0;

  private constructor(
    private readonly monitor: Redis,
    private readonly probe: Redis,
  ) {}

  static async start(port: number): Promise<CommandLog> {
    // monitor() answers a connection of its own in MONITOR mode; the probe is the one it was asked on.
    const probe = new Redis(port, '127.0.0.1');
    const monitor = await probe.monitor();
    const log = new CommandLog(monitor, probe);
    monitor.on('monitor', (_time: string, args: string[], source: string) => log.seen.push({ args, source }));
    return log;
  }

  /** The names of the commands `client` sent while `action` ran, in order. */
  async commandsOf<T>(client: Redis, action: () => Promise<T>): Promise<{ result: T; commands: string[] }> {
    const addr = /addr=(\S+)/.exec(String(await client.client('INFO')))![1]!;
    const from = await this.mark();
    const result = await action();
    const to = await this.mark();
    const commands = this.seen
      .slice(from, to)
      .filter((e) => e.source === addr && !isRegistration(e.args))
      .map((e) => e.args[0]!.toLowerCase());
    return { result, commands };
  }

  async stop(): Promise<void> {
    this.monitor.disconnect();
    await this.probe.quit();
  }

  /** Sends a marker and waits until MONITOR shows it: everything executed before it was logged; returns its index. */
  private async mark(): Promise<number> {
    const marker = `marker-${++this.markers}`;
    await this.probe.echo(marker);
    return waitFor(
      () => {
        const i = this.seen.findIndex((e) => e.args[0]?.toLowerCase() === 'echo' && e.args[1] === marker);
        return i >= 0 ? i + 1 : null;
      },
      { what: `MONITOR to show ${marker}` },
    );
  }
}

describe('RedisReadModel: one round trip per event (single redis-server)', () => {
  let server: RedisServer;
  let log: CommandLog;
  let a: Replica;
  let b: Replica;

  beforeAll(async () => {
    server = await RedisServer.start();
    log = await CommandLog.start(server.port);
    a = await replica(await server.connections());
    b = await replica(await server.connections());
    // Each connection's first script call loads the script (EVALSHA answered NOSCRIPT, then EVAL).
    await a.apply({ type: 'request.create', data: f.request('warm-up', 'w1') });
    await b.apply({ type: 'request.create', data: f.request('warm-up', 'w2') });
  });
  afterAll(async () => {
    await log.stop();
    await a.conns.close();
    await b.conns.close();
    await server.stop();
  });
  beforeEach(() => {
    for (const r of [a, b]) r.misses = r.conflicts = 0;
  });

  const commandsOf = <T>(r: Replica, action: () => Promise<T>) => log.commandsOf(r.conns.command as Redis, action);

  it('a new request, its updates, a message, a member and a duplicate each cost one EVALSHA', async () => {
    const P = `one-${Date.now()}`;
    // Not ASCII, and a lone surrogate: the replica's SHA-1 of what it remembers must be Redis's of what it stored.
    const v1 = f.request(P, 'r1', { first_text: 'Caffè ☕ 🍕 cut \ud83d' });
    const steps: Array<[string, Raw]> = [
      ['new member', { type: 'project_user.create', data: f.projectUser(P, 'u1', 'agent') }],
      ['new request', { type: 'request.create', data: v1 }],
      ['update', { type: 'request.update', data: { ...v1, status: 100, updatedAt: f.nextTime() } }],
      ['update', { type: 'request.update', data: { ...v1, status: 200, participants: ['u1'], updatedAt: f.nextTime() } }],
      ['new message', { type: 'message.create', data: f.message(P, 'r1') }],
      ['new event', { type: 'event.emit', data: f.event(P, 'pu1', 'typing') }],
    ];
    for (const [what, raw] of steps) {
      const { result, commands } = await commandsOf(a, () => a.apply(raw));
      expect([what, result.outcome, commands]).toEqual([what, 'applied', ['evalsha']]);
    }
    // The same update again: a duplicate, told by the commit script checking the guess (nothing written).
    const again = await commandsOf(a, () => a.apply(steps[3]![1]));
    expect([again.result, again.commands]).toEqual([{ outcome: 'duplicate' }, ['evalsha']]);
    expect([a.misses, a.conflicts]).toEqual([0, 0]);
  });

  it('a project.update reads the members under the write version: one round trip for those reads, one for the commit', async () => {
    const P = `proj-${Date.now()}`;
    await a.apply({ type: 'project_user.create', data: f.projectUser(P, 'u1', 'agent') });
    const { result, commands } = await commandsOf(a, () => a.apply({ type: 'project.update', data: f.project(P) }));
    expect(result.outcome).toBe('applied');
    expect(commands).toEqual(['get', 'hgetall', 'evalsha']);
  });

  it('two replicas updating one request in turn: each stale guess is retried into the exact prev, CREATE or UPDATE, and stale', async () => {
    const P = `turns-${Date.now()}`;
    const v = [f.request(P, 'r1', { status: 100 })];
    for (let i = 1; i < 6; i++) v.push({ ...v[0]!, status: i % 2 === 0 ? 100 : 200, updatedAt: f.nextTime(), __v: i });

    const created = await commandsOf(a, () => a.apply({ type: 'request.create', data: v[0]! }));
    expect(versions(requestChange(created.result))).toEqual([null, v[0]!.updatedAt]);
    // B has never seen r1: it guesses "new", the commit answers the stored version, B plans an UPDATE of it.
    const second = await commandsOf(b, () => b.apply({ type: 'request.update', data: v[1]! }));
    expect(versions(requestChange(second.result))).toEqual([v[0]!.updatedAt, v[1]!.updatedAt]);
    expect(second.commands).toEqual(['evalsha', 'evalsha']);
    // A remembers v0, which B replaced: the same again, from the other side.
    const third = await commandsOf(a, () => a.apply({ type: 'request.update', data: v[2]! }));
    expect(versions(requestChange(third.result))).toEqual([v[1]!.updatedAt, v[2]!.updatedAt]);
    expect(third.commands).toEqual(['evalsha', 'evalsha']);
    // B's v1 again: B remembers v1 and takes it for a duplicate, which the commit checks and refutes with v2; stale
    // against v2 is then decided on the values that reply carried, with no further command.
    const stale = await commandsOf(b, () => b.apply({ type: 'request.update', data: v[1]! }));
    expect([stale.result, stale.commands]).toEqual([{ outcome: 'stale' }, ['evalsha']]);
    // B now knows v2: its next update is one round trip again.
    const fourth = await commandsOf(b, () => b.apply({ type: 'request.update', data: v[3]! }));
    expect(versions(requestChange(fourth.result))).toEqual([v[2]!.updatedAt, v[3]!.updatedAt]);
    expect(fourth.commands).toEqual(['evalsha']);
    expect(envelopeOf(fourth.result).seq).toBe(4);
    // Wrong guesses are not version conflicts (the Prometheus counter stays at 0).
    expect([a.misses, b.misses, a.conflicts, b.conflicts]).toEqual([1, 2, 0, 0]);
    expect(JSON.parse((await a.conns.command.hget(`rt:{${P}}:req`, 'r1'))!)).toMatchObject({ updatedAt: v[3]!.updatedAt, __v: 3 });
  });

  it('concurrent versions of one request spread over two replicas form one exact chain of prev → next', async () => {
    const P = `race-${Date.now()}`;
    const base = f.request(P, 'r1');
    const all = Array.from({ length: 40 }, (_, i) => ({ ...base, status: i % 3 === 0 ? 100 : 200, __v: i }));
    // Shuffled, in waves of four at once, each version sent to one replica and some to both.
    const order = [...all].sort(() => Math.random() - 0.5);
    const outcomes: ApplyOutcome[] = [];
    for (let i = 0; i < order.length; i += 4) {
      const wave = order.slice(i, i + 4).flatMap((doc, k) => {
        const raw = { type: 'request.update', data: doc };
        return k === 0 ? [a.apply(raw), b.apply(raw)] : [(k % 2 === 0 ? a : b).apply(raw)];
      });
      outcomes.push(...(await Promise.all(wave)));
    }
    const applied = outcomes
      .filter((o) => o.outcome === 'applied')
      .map(envelopeOf)
      .sort((x, y) => x.seq - y.seq);
    expect(applied.map((e) => e.seq)).toEqual(applied.map((_, i) => i + 1));
    const changes = applied.map((e) => e.change as Extract<Change, { type: 'request' }>);
    changes.forEach((c, i) => {
      expect(c.prev?.__v ?? null).toBe(i === 0 ? null : changes[i - 1]!.next.__v);
      if (i > 0) expect(Number(c.next.__v)).toBeGreaterThan(Number(c.prev!.__v));
    });
    expect(changes.at(-1)!.next.__v).toBe(39);
    const stored = JSON.parse((await a.conns.command.hget(`rt:{${P}}:req`, 'r1'))!) as RequestDoc;
    expect(stored.__v).toBe(39);
  });

  it("a delete on one replica keeps the other replica's older create out", async () => {
    const P = `tomb-${Date.now()}`;
    const old = f.request(P, 'r1');
    await a.apply({ type: 'request.create', data: old });
    await a.apply({ type: 'request.delete', data: { request_id: 'r1', id_project: P } });
    // B knows nothing: it guesses no request and no tombstone, and the commit tells it about the tombstone.
    expect(await b.apply({ type: 'request.update', data: { ...old, __v: 1 } })).toEqual({ outcome: 'stale' });
    expect(await a.conns.command.hexists(`rt:{${P}}:req`, 'r1')).toBe(0);
  });

  it("a membership another replica stored: a scope change found on the retry reads the lists and sends the member's view", async () => {
    const P = `scope-${Date.now()}`;
    await a.apply({ type: 'project_user.create', data: f.projectUser(P, 'u1', 'agent') });
    await a.apply({ type: 'request.create', data: f.request(P, 'mine', { participants: ['u1'] }) });
    await a.apply({ type: 'request.create', data: f.request(P, 'other') });
    // B guesses a new member (no view); the reply tells it the agent, and the plan becomes a scope change.
    const o = await b.apply({ type: 'project_user.update', data: f.projectUser(P, 'u1', 'owner') });
    const change = envelopeOf(o).change;
    expect(change.type === 'project_user' && change.prev?.role).toBe('agent');
    expect(change.type === 'project_user' && change.view?.snapshot.map((r) => r.request_id).sort()).toEqual(['mine', 'other']);
    expect(b.misses).toBe(1);
  });

  it('a stored value that is not UTF-8 (no SHA-1 of its decoded text can match) is read under the version instead', async () => {
    const P = `bytes-${Date.now()}`;
    const v1 = f.request(P, 'r1', { first_text: 'caffe@' });
    await a.apply({ type: 'request.create', data: v1 });
    const redis = a.conns.command as Redis;
    const stored = (await redis.hgetBuffer(`rt:{${P}}:req`, 'r1'))!;
    stored[stored.indexOf('caffe@') + 5] = 0xff; // as another writer could leave it
    await redis.hset(`rt:{${P}}:req`, 'r1', stored);
    const o = await a.apply({ type: 'request.update', data: { ...v1, updatedAt: f.nextTime() } });
    expect(requestChange(o).prev?.first_text).toBe('caffe\ufffd');
    expect([a.misses, a.conflicts]).toEqual([2, 0]);
  });

  it('a FLUSHALL between two applies: the remembered request is gone, the update is applied as new', async () => {
    const P = `wipe-${Date.now()}`;
    const v1 = f.request(P, 'r1', { status: 100 });
    await a.apply({ type: 'request.create', data: v1 });
    await a.apply({ type: 'message.create', data: f.message(P, 'r1', { _id: 'm1' }) });
    await a.conns.command.flushall();
    const update = await commandsOf(a, () => a.apply({ type: 'request.update', data: { ...v1, updatedAt: f.nextTime() } }));
    expect(versions(requestChange(update.result))).toEqual([null, expect.any(String)]);
    expect(envelopeOf(update.result).seq).toBe(1);
    expect(update.commands).toEqual(['evalsha', 'evalsha']);
    const message = await a.apply({ type: 'message.update', data: f.message(P, 'r1', { _id: 'm1' }) });
    expect(envelopeOf(message).change).toMatchObject({ type: 'message', method: 'CREATE' });
    // The metrics start again from the documents that are there.
    expect((await a.model.readMetrics(P)).metrics.requests).toMatchObject({ open: 1, unassigned: 1 });
  });
});

describe('RedisReadModel: guesses against a Redis restart and the sweep', () => {
  it('a restart empty between two applies: the script is loaded again and the update is applied as new', async () => {
    const server = await RedisServer.start();
    const a = await replica(await server.connections());
    try {
      const v1 = f.request('restart', 'r1');
      await a.apply({ type: 'request.create', data: v1 });
      await server.kill();
      await server.launch();
      await waitFor(() => a.conns.commandReady, { timeoutMs: 10_000, what: 'the command connection to come back' });
      const o = await a.apply({ type: 'request.update', data: { ...v1, updatedAt: f.nextTime() } });
      expect([requestChange(o).prev, envelopeOf(o).seq]).toEqual([null, 1]);
    } finally {
      await a.conns.close();
      await server.stop();
    }
  });

  it('a closed request the other replica swept is guessed stored, found gone, and re-created', async () => {
    let clock = Date.now();
    const server = await RedisServer.start();
    const ttl = { closedRequestTtlS: 60 };
    const a = await replica(await server.connections(), () => clock, ttl);
    const b = await replica(await server.connections(), () => clock, ttl);
    try {
      const closed = f.request('swept', 'r1', { status: 1000 });
      await a.apply({ type: 'request.update', data: closed });
      await a.apply({ type: 'request.create', data: f.request('swept', 'r2', { status: 1000 }) });
      clock += 61_000;
      await b.model.sweep();
      expect(await a.conns.command.hlen('rt:{swept}:req')).toBe(0);
      // A remembers r1 closed: it plans an UPDATE of it, and the commit says it is gone.
      const reopened = await a.apply({ type: 'request.update', data: { ...closed, status: 200, updatedAt: f.nextTime() } });
      expect([requestChange(reopened).prev, a.misses]).toEqual([null, 1]);
      // Its own sweep keeps its guesses right: A learns that it swept r3, so r3's update is planned as new at once.
      await a.apply({ type: 'request.update', data: f.request('swept', 'r3', { status: 1000 }) });
      clock += 61_000;
      await a.model.sweep();
      const r3 = await a.apply({ type: 'request.update', data: f.request('swept', 'r3', { status: 200 }) });
      expect([requestChange(r3).prev, a.misses]).toEqual([null, 1]);
      const listed = await a.model.readForSubscribe(parseTopic('/swept/requests/r1')!, 'nobody');
      expect(listed.request?.status).toBe(200);
    } finally {
      await a.conns.close();
      await b.conns.close();
      await server.stop();
    }
  });
});

describe('RedisReadModel: one round trip per event on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    cluster = await RedisCluster.start();
    a = await replica(await cluster.connections());
    b = await replica(await cluster.connections());
  });
  afterAll(async () => {
    await a.conns.close();
    await b.conns.close();
    await cluster.stop();
  });

  /** The master serving a project's slot, and this replica's connection to it. */
  async function ownerOf(r: Replica, projectId: string): Promise<{ port: number; client: Redis }> {
    const slot = keySlot(`rt:{${projectId}}:seq`);
    const slots = await r.conns.command.cluster('SLOTS');
    const port = slots.find(([from, to]) => slot >= from && slot <= to)![2]![1];
    const client = await waitFor(() => (r.conns.command as Cluster).nodes('master').find((n) => n.options.port === port), {
      what: 'the connection to the master of the slot',
    });
    return { port, client };
  }

  it('a new request and its update cost one EVALSHA each on the master of the project; another replica retries exactly', async () => {
    const P = `cluster-${Date.now()}`;
    const v1 = f.request(P, 'r1');
    await a.apply({ type: 'request.create', data: f.request(P, 'warm-up') }); // loads the script on that master
    await b.apply({ type: 'request.create', data: f.request(P, 'warm-up-b') });
    const { port, client } = await ownerOf(a, P);
    const log = await CommandLog.start(port);
    try {
      const created = await log.commandsOf(client, () => a.apply({ type: 'request.create', data: v1 }));
      expect([created.result.outcome, created.commands]).toEqual(['applied', ['evalsha']]);
      const v2 = { ...v1, status: 100, updatedAt: f.nextTime() };
      const updated = await log.commandsOf(client, () => a.apply({ type: 'request.update', data: v2 }));
      expect([versions(requestChange(updated.result)), updated.commands]).toEqual([[v1.updatedAt, v2.updatedAt], ['evalsha']]);
      const other = await ownerOf(b, P);
      const v3 = { ...v1, status: 200, updatedAt: f.nextTime() };
      const byB = await log.commandsOf(other.client, () => b.apply({ type: 'request.update', data: v3 }));
      expect([versions(requestChange(byB.result)), byB.commands]).toEqual([
        [v2.updatedAt, v3.updatedAt],
        ['evalsha', 'evalsha'],
      ]);
      expect(envelopeOf(byB.result).seq).toBe(5);
    } finally {
      await log.stop();
    }
  });
});
