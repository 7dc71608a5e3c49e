import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { repoRoot, RedisProcess } from './lib/processes';
import { BenchReport, formatTable, machineInfo, ScenarioOutcome } from './lib/report';
import { socketIoPeerModule, startOurs, startRawWs, startSocketIo, TARGET_IDS, TargetId } from './lib/targets';
import { RunContext, TargetStarter } from './scenarios/context';
import { runS1, s1Params } from './scenarios/s1-fanout';
import { assertStraceInstalled } from './lib/syscall-trace';
import { runS1Saturation, s1SaturationParams } from './scenarios/s1-saturation';
import { runS2, s2Params } from './scenarios/s2-filtered';
import { runS3, s3Params } from './scenarios/s3-idle';
import { runS4, s4Params } from './scenarios/s4-handshake';
import { runS5, s5Params } from './scenarios/s5-ingest';
import { runS6, s6Params } from './scenarios/s6-reconnect';

/**
 * `npm run bench`: starts a redis-server, then for each scenario and each target in turn (our service on two
 * replicas, the raw `ws` peer, the Socket.IO peer on two processes) fresh server processes on an emptied
 * Redis, measures, and stops them; loopback only. Prints one table and writes it with every raw figure as
 * JSON.
 *
 *   node dist-bench/bench/run.js [--quick] [--scenario S1[,S1max10k,S5]] [--targets ours,ws,socketio] [--out file.json]
 *     [--replica-node-args "--cpu-prof --cpu-prof-dir=/tmp/prof"] [--wait-replicas N] [--strace RATE]
 */

interface Options {
  quick: boolean;
  scenarios: Set<string> | null;
  targets: Set<TargetId>;
  out: string;
  /** Extra node flags for our replicas (`--replica-node-args "--cpu-prof --cpu-prof-dir=/tmp/prof"`). */
  replicaNodeArgs: string[];
  /** `--wait-replicas N`: N Redis replicas of the bench's Redis, and our replicas run with REDIS_WAIT_REPLICAS=N. */
  waitReplicas: number;
  /** `--strace RATE`: the capacity scenarios run one step at RATE with strace attached instead of their search. */
  straceRate?: number;
}

/**
 * What `--scenario` accepts (any case). S1 is the fixed-rate fan-out at N = 1 000 and 10 000 plus the capacity
 * search at N = 1 000 (S1max alone selects only the latter); S1max1 and S1max10k are the capacity search with one
 * server process per target and at N = 10 000.
 */
const ALL_SCENARIOS = ['S1', 'S1MAX', 'S1MAX1', 'S1MAX10K', 'S2', 'S3', 'S4', 'S5', 'S6'];

function parseArgs(argv: string[]): Options {
  const opts: Options = { quick: false, scenarios: null, targets: new Set(TARGET_IDS), out: '', replicaNodeArgs: [], waitReplicas: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--scenario') {
      opts.scenarios ??= new Set();
      for (const s of value().split(',')) {
        const id = s.trim().toUpperCase();
        if (!ALL_SCENARIOS.includes(id)) throw new Error(`unknown scenario ${s} (${ALL_SCENARIOS.join(', ')})`);
        opts.scenarios.add(id);
      }
    } else if (a === '--targets') {
      opts.targets = new Set();
      for (const t of value().split(',')) {
        if (!TARGET_IDS.includes(t as TargetId)) throw new Error(`unknown target ${t} (${TARGET_IDS.join(', ')})`);
        opts.targets.add(t as TargetId);
      }
    } else if (a === '--out') opts.out = value();
    else if (a === '--replica-node-args') opts.replicaNodeArgs = value().split(' ').filter(Boolean);
    else if (a === '--wait-replicas') opts.waitReplicas = Number(value());
    else if (a === '--strace') {
      opts.straceRate = Number(value());
      if (!(opts.straceRate > 0)) throw new Error('--strace needs a rate in events/s (> 0)');
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--quick] [--scenario S1[,S1max,S1max1,S1max10k,S2,S5]] [--targets ours,ws,socketio] [--out file.json] [--replica-node-args "--cpu-prof ..."] [--wait-replicas N] [--strace RATE]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (opts.straceRate !== undefined) {
    assertStraceInstalled();
    // Only the capacity scenarios know how to trace a step; the default is the N = 1 000 one.
    opts.scenarios ??= new Set(['S1MAX']);
    const other = [...opts.scenarios].filter((id) => !id.startsWith('S1MAX'));
    if (other.length > 0)
      throw new Error(`--strace runs only with the capacity scenarios (S1max, S1max1, S1max10k), not ${other.join(', ')}`);
  }
  const root = repoRoot();
  if (!opts.out) opts.out = join(root, 'bench', 'results', opts.quick ? 'quick.json' : 'latest.json');
  else if (!isAbsolute(opts.out)) opts.out = join(process.cwd(), opts.out);
  return opts;
}

/**
 * How each selected target is started, per measurement; a missing Socket.IO peer is reported, not fatal.
 * `processes`: server processes for ours and Socket.IO (2 as designed; S3 and S4 measure one process).
 */
function targetStarters(opts: Options, redis: RedisProcess, processes = 2): RunContext['targets'] {
  const peer = socketIoPeerModule();
  const starters: Record<TargetId, TargetStarter> = {
    ours: () =>
      startOurs(redis, opts.replicaNodeArgs, opts.waitReplicas > 0 ? { REDIS_WAIT_REPLICAS: String(opts.waitReplicas) } : {}, processes),
    ws: () => startRawWs(),
    socketio: peer
      ? () => startSocketIo(redis, processes)
      : { unavailable: 'peer not available (bench/peers/socketio/socketio-peer.ts is missing)' },
  };
  for (const id of TARGET_IDS) if (!opts.targets.has(id)) starters[id] = { unavailable: 'not selected (--targets)' };
  return starters;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const wanted = (id: string) => !opts.scenarios || opts.scenarios.has(id);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const started = Date.now();
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));

  const redis = await RedisProcess.start();
  const redisReplicas: RedisProcess[] = [];
  for (let i = 0; i < opts.waitReplicas; i++)
    redisReplicas.push(await RedisProcess.start(['--replicaof', '127.0.0.1', String(redis.port)]));
  const ctx: RunContext = { quick: opts.quick, redis, targets: targetStarters(opts, redis), log };
  // Writes are confirmed only once the replicas have them: measuring before they synced would measure timeouts.
  await Promise.all(redisReplicas.map((r) => r.waitSynced()));
  const outcomes: ScenarioOutcome[] = [];
  try {
    // S3, S4 and S1max1 compare a process with a process: ours as one replica (on Redis), Socket.IO as one process.
    const oneProcess: RunContext = { ...ctx, targets: targetStarters(opts, redis, 1) };
    if (wanted('S1')) for (const n of opts.quick ? [40] : [1000, 10_000]) outcomes.push(await runS1(ctx, s1Params(n, opts.quick)));
    if (wanted('S1') || wanted('S1MAX'))
      outcomes.push(await runS1Saturation(ctx, s1SaturationParams('S1max', opts.quick, opts.straceRate)));
    if (wanted('S1MAX1')) outcomes.push(await runS1Saturation(oneProcess, s1SaturationParams('S1max1', opts.quick, opts.straceRate)));
    if (wanted('S1MAX10K')) outcomes.push(await runS1Saturation(ctx, s1SaturationParams('S1max10k', opts.quick, opts.straceRate)));
    if (wanted('S2')) outcomes.push(await runS2(ctx, s2Params(opts.quick)));
    if (wanted('S3')) outcomes.push(await runS3(oneProcess, s3Params(opts.quick)));
    if (wanted('S4')) outcomes.push(await runS4(oneProcess, s4Params(opts.quick)));
    if (wanted('S5')) outcomes.push(await runS5(ctx, s5Params(opts.quick)));
    if (wanted('S6')) outcomes.push(await runS6(ctx, s6Params(opts.quick)));
  } finally {
    await Promise.all(redisReplicas.map((r) => r.stop()));
    await redis.stop();
  }

  const table = formatTable(outcomes);
  const report: BenchReport = {
    startedAt: new Date(started).toISOString(),
    durationS: Math.round((Date.now() - started) / 1000),
    quick: opts.quick,
    machine: machineInfo(),
    scenarios: outcomes,
    table,
  };
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(report, null, 2)}\n`);
  const m = report.machine;
  process.stdout.write(
    `\n${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, node ${m.node}; ${report.durationS} s${opts.quick ? ' (quick)' : ''}\n\n`,
  );
  process.stdout.write(`${table}\n\n`);
  for (const o of outcomes) for (const n of o.notes) process.stdout.write(`${o.id} ${o.title}: ${n}\n`);
  process.stdout.write(`\nwritten to ${opts.out}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
