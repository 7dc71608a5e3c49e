import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { monoNow } from './clock';
import { LatencyHistogram, LatencySummary } from './histogram';
import type { Backoff, ClientSpec, ConnectReport, FromWorker, ReconnectReport, ToWorker, WorkerReport } from './worker-protocol';

/** Distributive Omit, so that each message variant keeps its own fields. */
type WithoutReq<T> = T extends unknown ? Omit<T, 'req'> : never;

/** What the whole generator measured for one run, merged over its workers (the counts are the workers' sums). */
export interface GeneratorReport extends Pick<
  WorkerReport,
  | 'clients'
  | 'frames'
  | 'expected'
  | 'lost'
  | 'duplicates'
  | 'unexpected'
  | 'other'
  | 'closedEarly'
  | 'firstFrameAt'
  | 'lastFrameAt'
  | 'windowMs'
  | 'rssBytes'
> {
  latency: LatencySummary;
  sameReplica: LatencySummary;
  crossReplica: LatencySummary;
  /** Over events: the latency of each event's last receiver. */
  lastReceiver: LatencySummary;
  /** CPU time of all workers (user + system) over the window. */
  cpuMs: number;
  workers: number;
}

/** The reconnect storm, merged over the workers. */
export interface StormReport {
  reconnected: number;
  failed: number;
  retries: number;
  errors: string[];
  /** Storm start to the last client's subscribe answer. */
  allBackMs: number;
  /** Per client: storm start to its subscribe answer. */
  timeToSnapshot: LatencySummary;
  /** Bytes of subscribe answers received (plain WebSocket clients only). */
  answerBytes: number;
  /** CPU time of all workers (user + system) from the storm's start until their last client was back. */
  cpuMs: number;
}

const STORM_LEAD_MS = 100;

class WorkerHandle {
  private nextReq = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exitError: Error | null = null;

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: FromWorker) => {
      const p = this.pending.get(m.req);
      if (!p) return;
      this.pending.delete(m.req);
      if (m.type === 'reply') p.resolve(m.body);
      else p.reject(new Error(`load worker: ${m.error}`));
    });
    proc.on('exit', (code, signal) => {
      this.exitError = new Error(`load worker exited (${signal ?? code})`);
      for (const p of this.pending.values()) p.reject(this.exitError);
      this.pending.clear();
    });
  }

  call<T>(msg: WithoutReq<ToWorker>): Promise<T> {
    if (this.exitError) return Promise.reject(this.exitError);
    const req = this.nextReq++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(req, { resolve: resolve as (v: unknown) => void, reject });
      const full: ToWorker = { ...msg, req };
      this.proc.send(full);
    });
  }
}

/**
 * The coordinator side of the load generator: forks worker processes (each with its own event loop, CPU
 * and open-file budget), deals clients out to them round-robin, and merges what they measured.
 */
export class LoadGenerator {
  private constructor(private readonly workers: WorkerHandle[]) {}

  static async start(count: number): Promise<LoadGenerator> {
    const script = join(__dirname, 'load-worker.js');
    const workers: WorkerHandle[] = [];
    for (let i = 0; i < count; i++) {
      const proc = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      await new Promise<void>((resolve, reject) => {
        proc.once('spawn', () => resolve());
        proc.once('error', reject);
      });
      workers.push(new WorkerHandle(proc));
    }
    return new LoadGenerator(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Connects and subscribes every client; resolves when each is subscribed or failed. */
  async connect(
    specs: ClientSpec[],
    opts: { concurrency?: number; timeoutMs?: number; socketIoModule?: string } = {},
  ): Promise<ConnectReport> {
    const shares: ClientSpec[][] = this.workers.map(() => []);
    specs.forEach((s, i) => shares[i % shares.length]!.push(s));
    const reports = await Promise.all(
      this.workers.map((w, i) =>
        w.call<ConnectReport>({
          type: 'connect',
          specs: shares[i]!,
          concurrency: opts.concurrency ?? 64,
          timeoutMs: opts.timeoutMs ?? 30_000,
          socketIoModule: opts.socketIoModule,
        }),
      ),
    );
    return {
      connected: reports.reduce((n, r) => n + r.connected, 0),
      failed: reports.reduce((n, r) => n + r.failed, 0),
      errors: reports.flatMap((r) => r.errors).slice(0, 5),
      ms: Math.max(...reports.map((r) => r.ms)),
    };
  }

  /** Every frame received so far, in any phase (used to wait until a warm-up has drained). */
  async totalFrames(): Promise<number> {
    const counts = await Promise.all(this.workers.map((w) => w.call<number>({ type: 'count' })));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Waits until no frame has arrived for `quietMs` (true), or `maxMs` passed first (false). */
  async quiesce(quietMs = 300, maxMs = 30_000): Promise<boolean> {
    const until = Date.now() + maxMs;
    let last = -1;
    let stableSince = Date.now();
    while (Date.now() < until) {
      const n = await this.totalFrames();
      if (n !== last) {
        last = n;
        stableSince = Date.now();
      } else if (Date.now() - stableSince >= quietMs) {
        return true;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  /**
   * Starts a measurement window: counters reset, CPU baselines taken. `ingestTargets` is how many server
   * processes events are posted to (event id modulo that count), 0 when unknown (the Redis stream).
   */
  async begin(ingestTargets: number): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ type: 'begin', ingestTargets })));
  }

  /**
   * Ends the window once every client has every event it should (or at `deadline`, monotonic ms) and
   * merges the workers' reports. `events` are `[id, key]` pairs of every measured event sent.
   */
  async finish(events: Array<[number, number]>, deadline: number): Promise<GeneratorReport> {
    const reports = await Promise.all(this.workers.map((w) => w.call<WorkerReport>({ type: 'finish', events, deadline })));
    return mergeReports(reports, events);
  }

  /**
   * The reconnect storm: every worker drops all of its clients at the same instant (STORM_LEAD_MS from now,
   * so that the message has reached each worker) and reconnects them; see the worker's `reconnect`.
   */
  async reconnect(opts: { concurrency: number; timeoutMs: number; backoff: Backoff; giveUpMs: number }): Promise<StormReport> {
    const at = monoNow() + STORM_LEAD_MS;
    const reports = await Promise.all(
      this.workers.map((w) =>
        w.call<ReconnectReport>({
          type: 'reconnect',
          at,
          concurrency: opts.concurrency,
          timeoutMs: opts.timeoutMs,
          backoff: opts.backoff,
          giveUpAt: at + opts.giveUpMs,
        }),
      ),
    );
    const times = new LatencyHistogram();
    for (const r of reports) times.add(r.timeToSnapshot);
    const sum = (f: (r: ReconnectReport) => number) => reports.reduce((n, r) => n + f(r), 0);
    const lastAt = Math.max(0, ...reports.map((r) => r.lastAt));
    return {
      reconnected: sum((r) => r.reconnected),
      failed: sum((r) => r.failed),
      retries: sum((r) => r.retries),
      errors: reports.flatMap((r) => r.errors).slice(0, 5),
      allBackMs: lastAt > 0 ? lastAt - at : NaN,
      timeToSnapshot: times.summary(),
      answerBytes: sum((r) => r.answerBytes),
      cpuMs: sum((r) => r.cpuMs),
    };
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ type: 'disconnect' })));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.proc.exitCode !== null || w.proc.signalCode !== null) return resolve();
            w.proc.once('exit', () => resolve());
            w.proc.kill('SIGTERM');
          }),
      ),
    );
  }
}

function mergeReports(reports: WorkerReport[], events: Array<[number, number]>): GeneratorReport {
  const all = new LatencyHistogram();
  const same = new LatencyHistogram();
  const cross = new LatencyHistogram();
  const lastReceiver = new LatencyHistogram();
  for (const r of reports) {
    all.add(r.all);
    same.add(r.same);
    cross.add(r.cross);
  }
  for (const [id] of events) {
    let worst = -1;
    for (const r of reports) worst = Math.max(worst, r.lastByEvent[id] ?? -1);
    if (worst >= 0) lastReceiver.recordMs(worst);
  }
  const sum = (f: (r: WorkerReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const firsts = reports.map((r) => r.firstFrameAt).filter((t) => t > 0);
  return {
    clients: sum((r) => r.clients),
    frames: sum((r) => r.frames),
    expected: sum((r) => r.expected),
    lost: sum((r) => r.lost),
    duplicates: sum((r) => r.duplicates),
    unexpected: sum((r) => r.unexpected),
    other: sum((r) => r.other),
    closedEarly: sum((r) => r.closedEarly),
    latency: all.summary(),
    sameReplica: same.summary(),
    crossReplica: cross.summary(),
    lastReceiver: lastReceiver.summary(),
    firstFrameAt: firsts.length > 0 ? Math.min(...firsts) : 0,
    lastFrameAt: Math.max(0, ...reports.map((r) => r.lastFrameAt)),
    cpuMs: sum((r) => r.cpuUserMs + r.cpuSystemMs),
    windowMs: Math.max(0, ...reports.map((r) => r.windowMs)),
    rssBytes: sum((r) => r.rssBytes),
    workers: reports.length,
  };
}
