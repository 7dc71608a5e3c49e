import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The benchmark's smoke variant (`bench/run.ts --quick`: tiny N, seconds per scenario), so that the bench code
 * cannot rot: it compiles bench/ the way `npm run bench` does, runs every scenario against every target, and
 * checks that each implemented scenario produced numbers and lost nothing. Times are never asserted.
 * Needs `dist/main.js` (npm test builds it first) and redis-server.
 */

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const SOCKET_IO_PEER = join(ROOT, 'bench', 'peers', 'socketio', 'socketio-peer.ts');

interface Measurement {
  phase: string;
  events: number;
  ingestErrors: number;
  generator: { clients: number; frames: number; expected: number; lost: number; duplicates: number; unexpected: number };
}
/** S3 and S4 only connect and subscribe (no events): what they report instead of deliveries. */
interface ConnectMeasurement {
  clients: number;
  failed: number;
  connectMs: number;
  serverCpuMs: Record<string, number>;
  rssBeforeBytes: Record<string, number>;
  rssAfterBytes: Record<string, number>;
  /** S3: what each Node server process reported to the heap probe. */
  heapBefore?: Record<string, { heapUsed: number }>;
  heapAfter?: Record<string, { heapUsed: number }>;
}
const CONNECT_SCENARIOS = ['S3', 'S4'];
/** S6: every client drops its connection and reconnects at once. */
interface StormMeasurement {
  clients: number;
  storm: { reconnected: number; failed: number; allBackMs: number };
  serverCpuMs: Record<string, number>;
  peakRssBytes: Record<string, number>;
  redisCommands: Record<string, number> | null;
}
const STORM_SCENARIOS = ['S6'];
/** S1max (and its one-process and N = 10 000 variants): the S1 fan-out offered at rising rates until a target no longer keeps up. */
interface SaturationResult {
  steps: Array<{
    rate: number;
    sustained: boolean;
    reason?: string;
    /** Whether the step ran on clients connected for it (S1max10k keeps them from step to step). */
    freshClients: boolean;
    measurement: Measurement & { framesPerSec: number };
  }>;
}
const CAPACITY_SCENARIOS = ['S1max', 'S1max1', 'S1max10k'];
interface Outcome {
  id: string;
  status: 'measured' | 'not measured yet';
  params: { clients?: number };
  rows: Array<{ metric: string; values: Record<string, number | string | null> }>;
  targets: Record<
    string,
    | { status: 'measured'; measurement: Array<Measurement | ConnectMeasurement | StormMeasurement> | SaturationResult }
    | { status: 'unavailable' | 'error'; reason: string }
  >;
}

describe('npm run bench, smoke variant (--quick)', () => {
  let dir: string;
  let scenarios: Outcome[];
  let table: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rt-bench-smoke-'));
    const out = join(dir, 'quick.json');
    await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'bench/tsconfig.json'], { cwd: ROOT });
    try {
      await run(process.execPath, ['dist-bench/bench/run.js', '--quick', '--out', out], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      throw new Error(`bench --quick failed:\n${e.stderr ?? ''}\n${e.stdout ?? ''}`);
    }
    const report = JSON.parse(readFileSync(out, 'utf8')) as { scenarios: Outcome[]; table: string };
    scenarios = report.scenarios;
    table = report.table;
  }, 240_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs and measures S1 (fixed rate and the three capacity variants) … S6', () => {
    expect(scenarios.map((s) => ({ id: s.id, status: s.status }))).toEqual(
      ['S1', 'S1max', 'S1max1', 'S1max10k', 'S2', 'S3', 'S4', 'S5', 'S6'].map((id) => ({ id, status: 'measured' })),
    );
    expect(table).not.toMatch(/not measured yet/);
  });

  it('measures our service and the raw ws peer in every implemented scenario, and the Socket.IO peer where it can run', () => {
    for (const s of scenarios.filter((x) => x.status === 'measured')) {
      for (const id of ['ours', 'ws'])
        expect({ scenario: s.id, target: id, status: s.targets[id]!.status }).toEqual({ scenario: s.id, target: id, status: 'measured' });
      const sio = s.targets.socketio!;
      // Never an error; "n/a" (with its reason) only where the peer cannot run the scenario or is not there.
      expect(sio.status).not.toBe('error');
      if (existsSync(SOCKET_IO_PEER)) expect(sio.status).toBe('measured');
    }
  });

  it('delivers every event to every subscriber that should get it, once, and nothing else', () => {
    for (const s of scenarios.filter(
      (x) => x.status === 'measured' && ![...CONNECT_SCENARIOS, ...STORM_SCENARIOS, ...CAPACITY_SCENARIOS].includes(x.id),
    )) {
      for (const [target, t] of Object.entries(s.targets)) {
        if (t.status !== 'measured') continue;
        for (const m of t.measurement as Measurement[]) {
          const g = m.generator;
          const got = {
            scenario: s.id,
            target,
            phase: m.phase,
            ingestErrors: m.ingestErrors,
            lost: g.lost,
            duplicates: g.duplicates,
            unexpected: g.unexpected,
          };
          expect(got).toEqual({ ...got, ingestErrors: 0, lost: 0, duplicates: 0, unexpected: 0 });
          expect(m.events).toBeGreaterThan(0);
          expect(g.expected).toBeGreaterThan(0);
          expect(g.frames).toBe(g.expected);
        }
      }
    }
  });

  it('offers the capacity search at least one rate on every measured target, each step delivering everything', () => {
    for (const s of scenarios.filter((x) => CAPACITY_SCENARIOS.includes(x.id))) {
      for (const [target, t] of Object.entries(s.targets)) {
        if (t.status !== 'measured') continue;
        const { steps } = t.measurement as SaturationResult;
        expect(steps.length).toBeGreaterThan(0);
        for (const step of steps) {
          const g = step.measurement.generator;
          // At the smoke variant's tiny rates nothing may be lost even on a step judged too slow.
          const got = {
            target,
            rate: step.rate,
            ingestErrors: step.measurement.ingestErrors,
            lost: g.lost,
            wrong: g.duplicates + g.unexpected,
          };
          expect(got).toEqual({ ...got, ingestErrors: 0, lost: 0, wrong: 0 });
          expect(step.measurement.framesPerSec).toBeGreaterThan(0);
          if (!step.sustained) expect(step.reason).toEqual(expect.any(String));
        }
        if (s.id === 'S1max10k') {
          // Kept clients: nothing was lost, so every step after the first ran on the clients connected for the first.
          const fresh = steps.map((step) => step.freshClients);
          expect({ target, fresh }).toEqual({ target, fresh: steps.map((_, i) => i === 0) });
        }
      }
    }
  });

  it('connects and subscribes every client of S3 and S4 on every measured target, reading the server from /proc', () => {
    for (const s of scenarios.filter((x) => CONNECT_SCENARIOS.includes(x.id))) {
      expect(s.params.clients).toBeGreaterThan(0);
      for (const [target, t] of Object.entries(s.targets)) {
        if (t.status !== 'measured') continue;
        for (const m of t.measurement as ConnectMeasurement[]) {
          const procs = Object.keys(m.rssAfterBytes);
          expect(procs.length).toBeGreaterThan(0);
          const got = {
            scenario: s.id,
            target,
            clients: m.clients,
            failed: m.failed,
            rssRead: procs.every((p) => m.rssAfterBytes[p]! > 0 && m.rssBeforeBytes[p]! > 0),
            cpuRead: procs.every((p) => Number.isFinite(m.serverCpuMs[p])),
          };
          expect(got).toEqual({ ...got, clients: s.params.clients, failed: 0, rssRead: true, cpuRead: true });
          if (s.id === 'S3') {
            // Every Node server process (not redis-server) answered the heap probe before and after.
            const heapRead = procs.filter((p) => p !== 'redis').every((p) => m.heapBefore?.[p]?.heapUsed && m.heapAfter?.[p]?.heapUsed);
            expect({ scenario: s.id, target, heapRead }).toEqual({ scenario: s.id, target, heapRead: true });
          }
        }
      }
    }
  });

  it('brings every client of S6 back after the storm, with peak RSS from /proc and the Redis commands where Redis is used', () => {
    for (const s of scenarios.filter((x) => STORM_SCENARIOS.includes(x.id))) {
      expect(s.params.clients).toBeGreaterThan(0);
      for (const [target, t] of Object.entries(s.targets)) {
        if (t.status !== 'measured') continue;
        for (const m of t.measurement as StormMeasurement[]) {
          const procs = Object.keys(m.peakRssBytes);
          const got = {
            scenario: s.id,
            target,
            clients: m.clients,
            reconnected: m.storm.reconnected,
            failed: m.storm.failed,
            allBack: m.storm.allBackMs > 0,
            peakRssRead: procs.length > 0 && procs.every((p) => m.peakRssBytes[p]! > 0),
            cpuRead: procs.every((p) => Number.isFinite(m.serverCpuMs[p])),
            redisCounted: m.redisCommands !== null,
          };
          expect(got).toEqual({
            ...got,
            clients: s.params.clients,
            reconnected: s.params.clients,
            failed: 0,
            allBack: true,
            peakRssRead: true,
            cpuRead: true,
            redisCounted: procs.includes('redis'),
          });
        }
      }
    }
  });

  it('fills every row of the table with a number for each measured target', () => {
    for (const s of scenarios.filter((x) => x.status === 'measured')) {
      for (const row of s.rows) {
        for (const [target, t] of Object.entries(s.targets)) {
          if (t.status !== 'measured') continue;
          const v = row.values[target];
          // null: the metric does not apply to that target (e.g. cross-replica on a one-process peer).
          if (v !== null)
            expect({ scenario: s.id, metric: row.metric, target, finite: Number.isFinite(v) }).toEqual({
              scenario: s.id,
              metric: row.metric,
              target,
              finite: true,
            });
        }
      }
    }
  });
});
