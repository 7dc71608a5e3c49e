import Redis from 'ioredis';
import * as f from './helpers/factories';
import { RedisServer } from './helpers/redis-server';
import { ReplicaProcess } from './helpers/replica-process';
import { TestClient } from './helpers/ws-client';
import { waitFor, until } from './helpers/wait-for';

/**
 * Stream ingest across replicas (ingest.md §2.2) with the replicas as OS processes on one redis-server:
 * `XADD <prefix>ingest * event <envelope JSON>` is applied once by the consumer group `<prefix>realtime`
 * whichever replica reads it, entries left pending by a replica killed with SIGKILL are claimed and applied
 * by another after INGEST_CLAIM_IDLE_MS, and malformed entries are acknowledged into `<prefix>ingest:dead`
 * with their reason and original id.
 */

const CLAIM_IDLE_MS = 500;

/** The stream, group and dead-letter stream of one REDIS_PREFIX, read with a plain ioredis client. */
class IngestStream {
  readonly stream: string;
  readonly group: string;
  readonly dead: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.stream = `${prefix}ingest`;
    this.group = `${prefix}realtime`;
    this.dead = `${prefix}ingest:dead`;
  }

  /** XADD of one envelope, as an internal service does it; resolves with the entry id. */
  async add(envelope: unknown): Promise<string> {
    return (await this.redis.xadd(this.stream, '*', 'event', JSON.stringify(envelope)))!;
  }

  /** XADD of many envelopes in one pipeline (the entries keep their order); resolves with their ids. */
  async addMany(envelopes: unknown[]): Promise<string[]> {
    const pipeline = this.redis.pipeline();
    for (const e of envelopes) pipeline.xadd(this.stream, '*', 'event', JSON.stringify(e));
    const replies = (await pipeline.exec())!;
    return replies.map(([err, id]) => {
      if (err) throw err;
      return id as string;
    });
  }

  /** XPENDING summary: the group's pending count and the count per consumer. */
  async pending(): Promise<{ total: number; byConsumer: Record<string, number> }> {
    const [total, , , consumers] = (await this.redis.xpending(this.stream, this.group)) as [
      number,
      unknown,
      unknown,
      [string, string][] | null,
    ];
    const byConsumer: Record<string, number> = {};
    for (const [name, count] of consumers ?? []) byConsumer[name] = Number(count);
    return { total: Number(total), byConsumer };
  }

  /**
   * Every entry up to `lastId` was delivered to the group (its last-delivered-id reached it) and acknowledged
   * (nothing pending). XPENDING alone is not enough: it is 0 between two batches too.
   */
  async drained(lastId: string): Promise<boolean> {
    const groups = (await this.redis.xinfo('GROUPS', this.stream)) as unknown[][];
    for (const g of groups) {
      const info: Record<string, unknown> = {};
      for (let i = 0; i < g.length; i += 2) info[String(g[i])] = g[i + 1];
      if (info['name'] !== this.group) continue;
      return info['last-delivered-id'] === lastId && Number(info['pending']) === 0;
    }
    return false;
  }

  /** Ids of the entries pending on one consumer. */
  async pendingIdsOf(consumer: string): Promise<string[]> {
    const rows = (await this.redis.xpending(this.stream, this.group, '-', '+', 100_000, consumer)) as [string, string, number, number][];
    return rows.map(([id]) => id);
  }

  /** The dead-letter entries, as field maps. */
  async deadEntries(): Promise<Record<string, string>[]> {
    const rows = (await this.redis.xrange(this.dead, '-', '+')) as [string, string[]][];
    return rows.map(([, fields]) => {
      const o: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
      return o;
    });
  }
}

/** The consumer name a replica uses in the group (`<hostname>-<pid>-<random>`). */
function consumerOf(replica: ReplicaProcess, names: string[]): string | undefined {
  return names.find((n) => n.includes(`-${replica.proc.pid}-`));
}

describe('stream ingest across replicas', () => {
  let server: RedisServer;
  let redis: Redis;
  const replicas: ReplicaProcess[] = [];
  const clients: TestClient[] = [];
  const startReplica = async (env: Record<string, string>) => {
    const r = await ReplicaProcess.start({ REDIS_URL: server.url, INGEST_CLAIM_IDLE_MS: String(CLAIM_IDLE_MS), ...env });
    replicas.push(r);
    return r;
  };
  const connect = async (replica: ReplicaProcess, user: string) => {
    const c = await replica.connect(user);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await RedisServer.start();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(replicas.map((r) => r.kill()));
    redis?.disconnect();
    await server?.stop();
  });

  describe('two replicas on the default prefix', () => {
    let a: ReplicaProcess;
    let b: ReplicaProcess;
    let s: IngestStream;
    beforeAll(async () => {
      [a, b] = await Promise.all([startReplica({}), startReplica({})]);
      s = new IngestStream(redis, 'rt:');
    });

    it('applies each entry once across the replicas: every subscriber on either replica gets each frame exactly once', async () => {
      const P = `rs-once-${Date.now()}`;
      await a.ingestOk([
        { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
        { type: 'request.create', data: f.request(P, 'r1', { status: 200 }) },
      ]);
      const onA = await connect(a, 'owner');
      const onB = await connect(b, 'owner');
      const topic = `/${P}/requests/r1/messages`;
      for (const c of [onA, onB]) expect((await c.subscribe(topic)).payload.message).toEqual([]);

      // Several bursts, so that both consumers of the group get entries.
      const messages = Array.from({ length: 240 }, (_, i) => f.message(P, 'r1', { text: `m${i}` }));
      const ids: string[] = [];
      for (let k = 0; k < messages.length; k += 40) {
        ids.push(...(await s.addMany(messages.slice(k, k + 40).map((m) => ({ type: 'message.create', data: m })))));
      }
      expect(new Set(ids).size).toBe(messages.length);
      await until(() => s.drained(ids[ids.length - 1]!), 'the group to read and acknowledge every entry');
      expect((await s.pending()).total).toBe(0);

      // A last entry, applied after every other one was acknowledged: once a client has its frame, every
      // earlier frame of the project has reached it too (a replica delivers a project's envelopes in order).
      const fence = f.message(P, 'r1', { text: 'fence' });
      const fenceId = await s.add({ type: 'message.create', data: fence });
      const expected = [...messages, fence].map((m) => m._id).sort();
      for (const c of [onA, onB]) {
        await waitFor(() => c.topicFrames(topic).some((fr) => fr.payload.message?._id === fence._id), {
          what: 'the fence',
          timeoutMs: 10_000,
        });
        await c.sync();
        const live = c.topicFrames(topic).slice(1);
        expect(live.every((fr) => fr.action === 'publish' && fr.payload.method === 'CREATE')).toBe(true);
        expect(live.map((fr) => fr.payload.message._id).sort()).toEqual(expected);
      }
      await until(() => s.drained(fenceId), 'the fence to be acknowledged');
      const dead = await s.deadEntries();
      expect(dead.filter((d) => ids.includes(d.id!))).toEqual([]);
    });

    it('acknowledges malformed entries into the dead-letter stream with their reason and original id, and goes on', async () => {
      const P = `rs-dead-${Date.now()}`;
      await b.ingestOk([
        { type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') },
        { type: 'request.create', data: f.request(P, 'r1', { status: 200 }) },
      ]);
      const onA = await connect(a, 'owner');
      const topic = `/${P}/requests/r1/messages`;
      await onA.subscribe(topic);

      const notJson = '{"type": "message.create", "data": ';
      const unknownType = JSON.stringify({ type: 'request.explode', data: f.request(P, 'r1') });
      const missingField = JSON.stringify({ type: 'message.create', data: { ...f.message(P, 'r1'), recipient: undefined } });
      const good = f.message(P, 'r1', { text: 'after the bad ones' });
      const badIds = {
        notJson: (await redis.xadd(s.stream, '*', 'event', notJson))!,
        unknownType: (await redis.xadd(s.stream, '*', 'event', unknownType))!,
        missingField: (await redis.xadd(s.stream, '*', 'event', missingField))!,
        noEventField: (await redis.xadd(s.stream, '*', 'payload', JSON.stringify({ type: 'message.create', data: good })))!,
      };
      const goodId = await s.add({ type: 'message.create', data: good });

      // The valid entry behind them is applied: the consumers did not get stuck on the bad ones.
      await onA.waitFrame((fr) => fr.payload.topic === topic && fr.payload.message?._id === good._id, 0, 10_000);
      await until(() => s.drained(goodId), 'every entry acknowledged');
      expect((await s.pending()).total).toBe(0);

      const dead = (await s.deadEntries()).filter((d) => Object.values(badIds).includes(d.id!));
      // Each bad entry once, although two consumers read the stream.
      expect(dead.map((d) => d.id).sort()).toEqual(Object.values(badIds).sort());
      const byId = (id: string) => dead.find((d) => d.id === id)!;
      expect(byId(badIds.notJson)).toMatchObject({ event: notJson, reason: expect.stringMatching(/not JSON/) });
      expect(byId(badIds.unknownType)).toMatchObject({
        event: unknownType,
        field: 'type',
        reason: expect.stringContaining('unknown type "request.explode"'),
      });
      expect(byId(badIds.missingField)).toMatchObject({
        event: missingField,
        field: 'data.recipient',
        reason: expect.stringMatching(/data\.recipient: required/),
      });
      expect(byId(badIds.noEventField)).toEqual({ id: badIds.noEventField, reason: 'missing field "event"' });

      // Nothing of the bad entries reached the subscriber: only the good message did.
      await onA.sync();
      expect(
        onA
          .topicFrames(topic)
          .slice(1)
          .map((fr) => fr.payload.message._id),
      ).toEqual([good._id]);
    });
  });

  it('claims and applies the entries a replica killed with SIGKILL left pending', async () => {
    const prefix = `rs-kill-${Date.now()}:`;
    const s = new IngestStream(redis, prefix);
    const [a, b] = await Promise.all([startReplica({ REDIS_PREFIX: prefix }), startReplica({ REDIS_PREFIX: prefix })]);
    const P = `rs-kill-${Date.now()}`;
    await b.ingestOk({ type: 'project_user.create', data: f.projectUser(P, 'owner', 'owner') });
    const watcher = await connect(b, 'owner');
    await watcher.subscribe(`/${P}/requests`);

    // A few thousand entries: every request gets its versions in order, interleaved with the other requests.
    const requestCount = 24;
    const versions = 100;
    const base = Date.parse('2030-01-01T00:00:00.000Z');
    const envelopes: unknown[] = [];
    for (let v = 0; v < versions; v++) {
      for (let k = 0; k < requestCount; k++) {
        const updatedAt = new Date(base + v * 1000).toISOString();
        envelopes.push({ type: 'request.update', data: f.request(P, `q${k}`, { status: 200, v, updatedAt, __v: v }) });
      }
    }
    const ids: string[] = [];
    for (let k = 0; k < envelopes.length; k += 400) ids.push(...(await s.addMany(envelopes.slice(k, k + 400))));

    // Freeze A while it holds entries it read and has not acknowledged (XPENDING names its consumer), then
    // kill it: those entries can only be acknowledged by another consumer claiming them.
    let consumerA = '';
    let heldByA: string[] = [];
    await until(async () => {
      consumerA = consumerOf(a, Object.keys((await s.pending()).byConsumer)) ?? '';
      if (!consumerA) return false;
      a.proc.kill('SIGSTOP');
      heldByA = await s.pendingIdsOf(consumerA);
      if (heldByA.length > 0) return true;
      a.proc.kill('SIGCONT');
      return false;
    }, 'replica A holding pending entries');
    await a.kill('SIGKILL');
    expect(heldByA.length).toBeGreaterThan(0);

    // B takes them over after INGEST_CLAIM_IDLE_MS and applies them: the group drains, A's entries included.
    await until(() => s.drained(ids[ids.length - 1]!), 'the group to drain after the kill', 20_000);
    expect((await s.pending()).total).toBe(0);
    expect(await s.pendingIdsOf(consumerA)).toEqual([]);
    expect(b.exited).toBe(false);

    // Every request holds its last version, as a fresh client reads it.
    const fresh = await connect(b, 'owner');
    const snapshot = (await fresh.subscribe(`/${P}/requests`)).payload.message as any[];
    expect(snapshot.map((r) => [r.request_id, r.v]).sort()).toEqual(
      Array.from({ length: requestCount }, (_, k) => [`q${k}`, versions - 1]).sort(),
    );
    for (const k of [0, requestCount - 1]) {
      expect((await fresh.subscribe(`/${P}/requests/q${k}`)).payload.message.v).toBe(versions - 1);
    }

    // The subscriber that watched all along never got an older version of a request after a newer one.
    await watcher.sync();
    const seen = new Map<string, number>();
    for (const fr of watcher.topicFrames(`/${P}/requests`).slice(1)) {
      const r = fr.payload.message;
      expect(r.v).toBeGreaterThan(seen.get(r.request_id) ?? -1);
      seen.set(r.request_id, r.v);
    }
    expect(seen.size).toBe(requestCount);
  }, 60_000);
});
