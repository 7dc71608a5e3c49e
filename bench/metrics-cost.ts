import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { isActiveMember } from '../src/access/member-access';
import { requestCounts, memberCounts, countsDelta, Counts } from '../src/analytics/metrics-ops';
import { DomainEvent } from '../src/domain/domain-events';
import { ProjectDoc, ProjectUserDoc, RequestDoc } from '../src/domain/documents';
import { RedisConnections } from '../src/engine/redis-connections';
import { validateEnvelope } from '../src/ingest/event-validation';
import { MemoryReadModel } from '../src/store/memory/memory-read-model';
import { ReadModel } from '../src/store/read-model';
import { RedisReadModel } from '../src/store/redis/redis-read-model';
import { RedisProcess } from './lib/processes';

/**
 * What producing `/P/metrics` costs for a large project (analytics.md: 1 000 agents and 100 000 open requests,
 * "no more than a few milliseconds"), on both engines, side by side with the peer a naive implementation would
 * be: the same counts recomputed by walking every request and member of the project (in process for memory;
 * for Redis, reading the documents back, as a replica without the kept state would have to).
 *
 *   node dist-bench/bench/metrics-cost.js [--agents 1000] [--requests 100000] [--reads 200]
 */

interface Args {
  agents: number;
  requests: number;
  reads: number;
}

function parseArgs(argv: string[]): Args {
  const out: Args = { agents: 1000, requests: 100_000, reads: 200 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]!.replace(/^--/, '') as keyof Args;
    if (!(key in out)) throw new Error(`unknown option ${argv[i]}`);
    out[key] = Number(argv[i + 1]);
  }
  return out;
}

const P = 'bench-metrics';

function* events(args: Args): Generator<DomainEvent> {
  const t0 = Date.now() - 30 * 60_000;
  const iso = (ms: number) => new Date(ms).toISOString();
  const raw: Array<{ type: string; data: Record<string, unknown> }> = [
    { type: 'project.update', data: { _id: P, name: 'Bench', status: 100, settings: { max_agent_assigned_chat: 5 }, updatedAt: iso(t0) } },
  ];
  for (let i = 0; i < args.agents; i++) {
    raw.push({
      type: 'project_user.update',
      data: {
        _id: `pu${i}`,
        id_project: P,
        id_user: `u${i}`,
        role: 'agent',
        roleType: 1,
        status: 'active',
        user_available: i % 5 !== 0,
        number_assigned_requests: i % 6,
        presence: { status: i % 3 === 0 ? 'offline' : 'online' },
        updatedAt: iso(t0 + i),
      },
    });
  }
  for (const e of raw) yield validateEnvelope(e, 0, { maxEventBytes: 262_144 }).event;
  for (let i = 0; i < args.requests; i++) {
    const created = t0 + Math.floor((i / args.requests) * 29 * 60_000);
    const status = i % 4 === 0 ? 100 : i % 4 === 1 ? 300 : 200;
    const data: Record<string, unknown> = {
      _id: `oid${i}`,
      request_id: `r${i}`,
      id_project: P,
      status,
      participants: status === 100 ? [] : [`u${i % args.agents}`],
      snapshot: { agents: [] },
      preflight: false,
      createdAt: iso(created),
      updatedAt: iso(created),
    };
    if (status !== 100) data.first_response_at = iso(created + 20_000 + (i % 50) * 1000);
    yield validateEnvelope({ type: 'request.create', data }, 0, { maxEventBytes: 262_144 }).event;
  }
}

/** The documents loaded, for the in-process peer. */
interface Loaded {
  requests: RequestDoc[];
  members: ProjectUserDoc[];
  project: ProjectDoc | null;
}

async function load(model: ReadModel, args: Args, keep?: Loaded): Promise<number> {
  const start = performance.now();
  const inflight: Array<Promise<unknown>> = [];
  for (const e of events(args)) {
    if (keep && e.type === 'request.upsert') keep.requests.push(e.data);
    if (keep && e.type === 'project_user.upsert') keep.members.push(e.data);
    if (keep && e.type === 'project.update') keep.project = e.data;
    inflight.push(model.apply(e, Date.now()));
    // One at a time, as the ingest pipeline applies the events of one project (concurrent applies of one
    // project would only retry on Redis's version check).
    await Promise.all(inflight.splice(0));
  }
  await Promise.all(inflight);
  return performance.now() - start;
}

async function timeReads(n: number, read: () => Promise<unknown>): Promise<{ p50: number; p99: number; mean: number }> {
  await read(); // warm up
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await read();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(n * 0.5)]!, p99: ms[Math.min(n - 1, Math.floor(n * 0.99))]!, mean: ms.reduce((a, b) => a + b, 0) / n };
}

/** The naive peer: every counter recomputed from all the documents. */
function recount(requests: Iterable<RequestDoc>, members: Iterable<ProjectUserDoc>, project: ProjectDoc | null): Counts {
  const total: Counts = {};
  for (const r of requests) countsDelta({}, requestCounts(r), total);
  for (const pu of members) if (isActiveMember(pu)) countsDelta({}, memberCounts(pu, project), total);
  return total;
}

function row(engine: string, how: string, r: { p50: number; p99: number; mean: number }): string {
  const f = (x: number) => x.toFixed(3).padStart(10);
  return `${engine.padEnd(8)} ${how.padEnd(44)} ${f(r.p50)} ${f(r.p99)} ${f(r.mean)}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const lines = [`${'engine'.padEnd(8)} ${'how'.padEnd(44)} ${'p50 ms'.padStart(10)} ${'p99 ms'.padStart(10)} ${'mean ms'.padStart(10)}`];
  console.log(`metrics cost: ${args.agents} agents, ${args.requests} open requests, ${args.reads} reads each`);

  const memory = new MemoryReadModel({
    history: { requests: 100, messages: 300, events: 20 },
    closedRequestTtlS: 86_400,
    eventsTtlS: 3600,
    dedupeTtlS: 0,
  });
  const docs: Loaded = { requests: [], members: [], project: null };
  const loadMs = await load(memory, args, docs);
  console.log(`memory: loaded in ${(loadMs / 1000).toFixed(1)} s`);
  lines.push(row('memory', 'readMetrics (kept state)', await timeReads(args.reads, () => memory.readMetrics(P))));
  // The peer walks the same documents in process, with no I/O at all.
  lines.push(
    row(
      'memory',
      'recount from every document (peer)',
      await timeReads(Math.min(args.reads, 50), () => Promise.resolve(recount(docs.requests, docs.members, docs.project))),
    ),
  );

  const redis = await RedisProcess.start();
  const connections = new RedisConnections(
    { url: redis.url, prefix: 'bm:', claimIdleMs: 30_000, streamMaxLen: 1000 },
    pino({ level: 'silent' }),
  );
  try {
    await connections.ready(5000);
    const model = new RedisReadModel(connections, {
      history: { requests: 100, messages: 300, events: 20 },
      closedRequestTtlS: 86_400,
      eventsTtlS: 3600,
      dedupeTtlS: 0,
      channel: (p) => `bm:p:{${p}}`,
    });
    const redisLoadMs = await load(model, args);
    console.log(`redis: loaded in ${(redisLoadMs / 1000).toFixed(1)} s`);
    lines.push(row('redis', 'readMetrics (kept state, one script)', await timeReads(args.reads, () => model.readMetrics(P))));
    const base = model.base(P);
    lines.push(
      row(
        'redis',
        'read every document back and recount (peer)',
        await timeReads(Math.min(args.reads, 10), async () => {
          const [reqs, pus, project] = await Promise.all([
            connections.command.hvals(`${base}req`),
            connections.command.hvals(`${base}pu`),
            connections.command.get(`${base}project`),
          ]);
          return recount(
            reqs.map((j) => JSON.parse(j) as RequestDoc),
            pus.map((j) => JSON.parse(j) as ProjectUserDoc),
            project ? (JSON.parse(project) as ProjectDoc) : null,
          );
        }),
      ),
    );
  } finally {
    await connections.close();
    await redis.stop();
  }
  console.log(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
