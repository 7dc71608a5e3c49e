import { monoNow, sleep } from './clock';
import { Envelope, memberEnvelope, projectEnvelope } from './documents';
import { LatencyHistogram, LatencySummary } from './histogram';
import { GeneratorReport, LoadGenerator, StormReport } from './load-generator';
import { cpuMsOf, HeapReading, listenQueueCounters, MonitorCounts, readHeap, RedisProcess, rssBytesOf, samplePeakRss } from './processes';
import type { ServerProcess, Target } from './targets';
import type { Backoff, ClientSpec, ConnectReport } from './worker-protocol';

/**
 * One measurement of one target: connect and subscribe every client, warm up (unmeasured events, then wait
 * until frames stop arriving), then for each phase open a window (counters reset, CPU read from /proc for
 * the server processes and from process.cpuUsage for the generator), drive the measured events, wait until
 * every client has every event it should (or a deadline) and close the window.
 */

/** What a client is, independently of the target it is pointed at. */
export interface ClientPlan {
  userId: string;
  /** Topics on our service (access rules decide what each delivers). */
  topics: string[];
  /** Topics on a peer (routing only): what the client must subscribe to there to get the same events. */
  peerTopics: string[];
  keys?: number[];
}

/** N clients `<prefix>-<i>`, each subscribed to one topic on ours and on the peers alike (owner-role scenarios). */
export function samePlans(prefix: string, n: number, topic: string): ClientPlan[] {
  return Array.from({ length: n }, (_, i) => ({ userId: `${prefix}-${i}`, topics: [topic], peerTopics: [topic] }));
}

/** What a scenario seeds its target with first: the project, and each client's user as a member in `role`. */
export function membersSeed(projectId: string, plans: ClientPlan[], role: Parameters<typeof memberEnvelope>[2]): Envelope[] {
  return [projectEnvelope(projectId), ...plans.map((c) => memberEnvelope(projectId, c.userId, role))];
}

/** 200 source addresses 127.0.0.10 … 127.0.0.209: ephemeral ports and open files never run short. */
export function sourceAddress(i: number): string {
  return `127.0.0.${10 + (i % 200)}`;
}

/** Workers of the load generator: at least two (two cores), one per 2 500 clients, at most four. */
export function workersFor(clients: number, quick: boolean): number {
  if (quick) return 1;
  return Math.min(4, Math.max(2, Math.ceil(clients / 2500)));
}

export function specsFor(target: Target, plans: ClientPlan[]): ClientSpec[] {
  return plans.map((p, i) => {
    const group = i % target.processes;
    return {
      url: target.clientUrl(group, p.userId),
      topics: target.filtersByAccess ? p.topics : p.peerTopics,
      kind: target.kind,
      localAddress: sourceAddress(i),
      group,
      keys: p.keys,
    };
  });
}

/** What a driver did during a window. */
export interface DriveResult {
  events: Array<[id: number, key: number]>;
  firstSendAt: number;
  lastSendAt: number;
  /** When the last ingest call was answered (HTTP 202, or the last XADD reply). */
  lastAckAt: number;
  ingestRtt: LatencySummary;
  ingestErrors: number;
  errorSample?: string;
}

export interface Phase {
  name: string;
  /** How many server processes events are posted to (id modulo), 0 when unknown. */
  ingestTargets: number;
  drainMs: number;
  drive(): Promise<DriveResult>;
}

export interface Measurement {
  phase: string;
  clients: number;
  connectMs: number;
  events: number;
  generator: GeneratorReport;
  ingestRtt: LatencySummary;
  ingestErrors: number;
  errorSample?: string;
  windowMs: number;
  /** Frames delivered per second, first send to last frame. */
  framesPerSec: number;
  /** Events per second, first send to the last frame received (applied, published and delivered). */
  eventsPerSecDelivered: number;
  /** Events per second, first send to the last ingest acknowledgement. */
  eventsPerSecAcked: number;
  serverCpuMs: Record<string, number>;
  serverCpuTotalMs: number;
  serverRssBytes: Record<string, number>;
  /** The coordinator (sender) process, as part of the generator's cost. */
  senderCpuMs: number;
}

/** Called around a measurement window (e.g. a system-call trace attached for its duration); not measured itself. */
export interface WindowHooks {
  /** Before the window opens (before the CPU baselines). */
  before(): Promise<void>;
  /** Once the window closed (after the CPU readings). */
  after(): Promise<void>;
}

export async function measure(
  target: Target,
  opts: { specs: ClientSpec[]; workers: number; warmup: Envelope[]; phases: Phase[]; log: (s: string) => void; hooks?: WindowHooks },
): Promise<Measurement[]> {
  const session = await MeasureSession.open(target, opts);
  try {
    const results: Measurement[] = [];
    for (const phase of opts.phases) results.push(await session.window(phase, opts.hooks));
    return results;
  } finally {
    await session.close();
  }
}

/**
 * Clients connected and warmed up once, measuring as many windows in turn as the caller asks for, each decided
 * after the one before (the capacity search at N = 10 000, where fresh clients per step would cost 10 000
 * handshakes a step). Whoever runs several windows keeps event ids unique across them (`firstId` of
 * `steadyDriver`), so that a frame of an earlier window arriving in a later one counts there as unexpected
 * instead of passing for one of its own events.
 */
export class MeasureSession {
  private constructor(
    private readonly target: Target,
    private readonly gen: LoadGenerator,
    private readonly specs: ClientSpec[],
    private connectReport: ConnectReport,
    private readonly log: (s: string) => void,
  ) {}

  static async open(
    target: Target,
    opts: { specs: ClientSpec[]; workers: number; warmup: Envelope[]; log: (s: string) => void },
  ): Promise<MeasureSession> {
    const gen = await LoadGenerator.start(opts.workers);
    try {
      const session = new MeasureSession(target, gen, opts.specs, await connectAll(target, gen, opts.specs, opts.log), opts.log);
      await warmUp(target, gen, opts.warmup);
      return session;
    } catch (err) {
      await gen.disconnect().catch(() => undefined);
      await gen.stop();
      throw err;
    }
  }

  window(phase: Phase, hooks?: WindowHooks): Promise<Measurement> {
    return window(this.target, this.gen, phase, this.connectReport, hooks);
  }

  /** Waits until no frame (of any kind) has arrived for `quietMs`; false when frames still came at `maxMs`. */
  settle(quietMs: number, maxMs: number): Promise<boolean> {
    return this.gen.quiesce(quietMs, maxMs);
  }

  /** Closes every client and connects and subscribes the same set afresh (whatever the old ones had queued is dropped with them). */
  async reconnect(): Promise<void> {
    await this.gen.disconnect();
    this.connectReport = await connectAll(this.target, this.gen, this.specs, this.log);
  }

  async close(): Promise<void> {
    await this.gen.disconnect().catch(() => undefined);
    await this.gen.stop();
  }
}

async function connectAll(target: Target, gen: LoadGenerator, specs: ClientSpec[], log: (s: string) => void): Promise<ConnectReport> {
  const connect = await gen.connect(specs, { socketIoModule: target.socketIoModule });
  if (connect.failed > 0) {
    throw new Error(`${connect.failed} of ${specs.length} clients failed to connect or subscribe: ${connect.errors.join('; ')}`);
  }
  log(`  ${target.id}: ${connect.connected} clients subscribed in ${(connect.ms / 1000).toFixed(1)} s (${gen.size} workers)`);
  return connect;
}

async function warmUp(target: Target, gen: LoadGenerator, warmup: Envelope[]): Promise<void> {
  for (let i = 0; i < warmup.length; i += 500) {
    await target.ingest[0]!.postOk(JSON.stringify(warmup.slice(i, i + 500)));
  }
  await gen.quiesce(300, 60_000);
}

async function window(target: Target, gen: LoadGenerator, phase: Phase, connect: ConnectReport, hooks?: WindowHooks): Promise<Measurement> {
  await hooks?.before();
  const procs = target.serverProcesses();
  const cpuBefore = procs.map((p) => cpuMsOf(p.pid));
  const senderBefore = process.cpuUsage();
  await gen.begin(phase.ingestTargets);
  const began = monoNow();
  const drive = await phase.drive();
  const report = await gen.finish(drive.events, monoNow() + phase.drainMs);
  const windowMs = monoNow() - began;
  const sender = process.cpuUsage(senderBefore);
  const serverCpuMs: Record<string, number> = {};
  const serverRssBytes: Record<string, number> = {};
  procs.forEach((p, i) => {
    serverCpuMs[p.name] = cpuMsOf(p.pid) - cpuBefore[i]!;
    serverRssBytes[p.name] = rssBytesOf(p.pid);
  });
  await hooks?.after();
  const deliveredSpan = (report.lastFrameAt - drive.firstSendAt) / 1000;
  return {
    phase: phase.name,
    clients: report.clients,
    connectMs: connect.ms,
    events: drive.events.length,
    generator: report,
    ingestRtt: drive.ingestRtt,
    ingestErrors: drive.ingestErrors,
    errorSample: drive.errorSample,
    windowMs,
    framesPerSec: deliveredSpan > 0 ? report.frames / deliveredSpan : NaN,
    eventsPerSecDelivered: deliveredSpan > 0 && report.lost === 0 ? drive.events.length / deliveredSpan : NaN,
    eventsPerSecAcked: drive.events.length / ((drive.lastAckAt - drive.firstSendAt) / 1000),
    serverCpuMs,
    serverCpuTotalMs: Object.values(serverCpuMs).reduce((a, b) => a + b, 0),
    serverRssBytes,
    senderCpuMs: (sender.user + sender.system) / 1000,
  };
}

/** One window of events offered at a steady rate to freshly connected clients (S1, S1 max, S2). */
export async function measureSteady(
  target: Target,
  opts: {
    plans: ClientPlan[];
    workers: number;
    warmup: Envelope[];
    log: (s: string) => void;
    name: string;
    drainMs: number;
    rate: number;
    durationMs: number;
    event: (id: number, ts: number) => { envelope: Envelope; key: number };
    hooks?: WindowHooks;
  },
): Promise<Measurement> {
  const [m] = await measure(target, {
    specs: specsFor(target, opts.plans),
    workers: opts.workers,
    warmup: opts.warmup,
    log: opts.log,
    hooks: opts.hooks,
    phases: [
      {
        name: opts.name,
        ingestTargets: target.ingest.length,
        drainMs: opts.drainMs,
        drive: steadyDriver(target, { rate: opts.rate, durationMs: opts.durationMs, event: opts.event }),
      },
    ],
  });
  return m!;
}

/**
 * Posts one event at a time at a steady rate (open loop: a slow answer does not delay the next event). Event ids
 * run from `firstId` (1 unless a session's earlier windows used those).
 */
export function steadyDriver(
  target: Target,
  opts: { rate: number; durationMs: number; event: (id: number, ts: number) => { envelope: Envelope; key: number }; firstId?: number },
): () => Promise<DriveResult> {
  return async () => {
    const count = Math.max(1, Math.round((opts.rate * opts.durationMs) / 1000));
    const firstId = opts.firstId ?? 1;
    const rtt = new LatencyHistogram();
    const events: Array<[number, number]> = [];
    const posts: Array<Promise<void>> = [];
    let errors = 0;
    let errorSample: string | undefined;
    let lastAckAt = 0;
    const start = monoNow();
    for (let id = firstId; id < firstId + count; id++) {
      const wait = start + ((id - firstId) * 1000) / opts.rate - monoNow();
      if (wait > 0) await sleep(wait);
      const ts = monoNow();
      const { envelope, key } = opts.event(id, ts);
      events.push([id, key]);
      const client = target.ingest[id % target.ingest.length]!;
      posts.push(
        client.post(JSON.stringify(envelope)).then(
          (r) => {
            lastAckAt = monoNow();
            rtt.recordMs(lastAckAt - ts);
            if (r.status !== 202) {
              errors++;
              errorSample ??= `${r.status} ${r.body.slice(0, 200)}`;
            }
          },
          (err: Error) => {
            errors++;
            errorSample ??= err.message;
          },
        ),
      );
    }
    const lastSendAt = monoNow();
    await Promise.all(posts);
    return { events, firstSendAt: start, lastSendAt, lastAckAt, ingestRtt: rtt.summary(), ingestErrors: errors, errorSample };
  };
}

/**
 * Posts batches as fast as the target answers them, `concurrency` requests in flight, for `durationMs`
 * (closed loop: the ingest rate is what the target sustains).
 */
export function batchDriver(
  target: Target,
  opts: { batch: number; concurrency: number; durationMs: number; event: (id: number, ts: number) => { envelope: Envelope; key: number } },
): () => Promise<DriveResult> {
  return async () => {
    const rtt = new LatencyHistogram();
    const events: Array<[number, number]> = [];
    let errors = 0;
    let errorSample: string | undefined;
    let nextId = 1;
    let lastAckAt = 0;
    const start = monoNow();
    const stopAt = start + opts.durationMs;
    const lane = async (lane: number) => {
      const client = target.ingest[lane % target.ingest.length]!;
      while (monoNow() < stopAt) {
        const ts = monoNow();
        const batch: Envelope[] = [];
        for (let i = 0; i < opts.batch; i++) {
          const id = nextId++;
          const { envelope, key } = opts.event(id, ts);
          batch.push(envelope);
          events.push([id, key]);
        }
        try {
          const r = await client.post(JSON.stringify(batch));
          if (r.status !== 202) {
            errors++;
            errorSample ??= `${r.status} ${r.body.slice(0, 200)}`;
          }
        } catch (err) {
          errors++;
          errorSample ??= (err as Error).message;
        }
        lastAckAt = monoNow();
        rtt.recordMs(lastAckAt - ts);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => lane(i)));
    return { events, firstSendAt: start, lastSendAt: lastAckAt, lastAckAt, ingestRtt: rtt.summary(), ingestErrors: errors, errorSample };
  };
}

/** Sums what a target's server processes used, as the table reports it. */
export function cpuPerEventMs(m: Measurement): number {
  return m.events > 0 ? m.serverCpuTotalMs / m.events : NaN;
}

export function generatorCpuPct(m: Measurement): number {
  return ((m.generator.cpuMs + m.senderCpuMs) / m.windowMs) * 100;
}

export function serverCpuPct(m: Measurement): number {
  return (m.serverCpuTotalMs / m.windowMs) * 100;
}

/** RSS of each process, by name (from /proc). */
function rssOf(procs: ServerProcess[]): Record<string, number> {
  const rss: Record<string, number> = {};
  for (const p of procs) rss[p.name] = rssBytesOf(p.pid);
  return rss;
}

/** The heap of each process that carries the heap probe, by name, one after the other. */
async function heapsOf(procs: ServerProcess[]): Promise<Record<string, HeapReading>> {
  const heaps: Record<string, HeapReading> = {};
  for (const p of procs) if (p.heapProbe) heaps[p.name] = await readHeap(p.pid);
  return heaps;
}

/** What connecting (and subscribing) a set of clients cost the server and the generator (S3, S4). */
export interface ConnectMeasurement {
  clients: number;
  failed: number;
  errors: string[];
  workers: number;
  concurrencyPerWorker: number;
  /** First connect started to last subscribe answered (the slowest worker). */
  connectMs: number;
  serverCpuMs: Record<string, number>;
  /** RSS of each server process before the first connect, and once every client is subscribed and settled. */
  rssBeforeBytes: Record<string, number>;
  rssAfterBytes: Record<string, number>;
  /** With `midpoint`: clients connected at the intermediate RSS reading, and that reading. */
  midpoint: number;
  rssMidBytes?: Record<string, number>;
  /** With `heap`: what each probed Node process reported after a full GC, at the same three points. */
  heapBefore?: Record<string, HeapReading>;
  heapMid?: Record<string, HeapReading>;
  heapAfter?: Record<string, HeapReading>;
  /** The generator's workers over the connect window (user + system). */
  generatorCpuMs: number;
  generatorRssBytes: number;
}

/**
 * Connects and subscribes every client (nothing else is sent), reading CPU and RSS of the target's server
 * processes from /proc before the first connect and after the last subscribe (after `settleMs`, so that
 * what the connects allocated has been touched and short-lived garbage had a chance to go). Disconnects
 * the clients before returning. `warmupClients` connect and leave first, unmeasured. With `midpoint`, the
 * first `midpoint` clients connect, RSS is read (after `settleMs`), then the rest connect; connect time
 * and CPU then span both steps and the pause. With `heap`, each reading first asks the target's Node
 * processes for their heap (`readHeap()`: a full GC, then `process.memoryUsage()`) and reads RSS `settleMs`
 * later, so that RSS too is free of collectable garbage.
 */
export async function measureConnects(
  target: Target,
  opts: {
    specs: ClientSpec[];
    workers: number;
    concurrency: number;
    settleMs: number;
    warmupClients: number;
    midpoint?: number;
    heap?: boolean;
    timeoutMs?: number;
  },
): Promise<ConnectMeasurement> {
  const gen = await LoadGenerator.start(opts.workers);
  try {
    if (opts.warmupClients > 0) {
      // Unmeasured: the first `warmupClients` connect, subscribe and leave, so that the window sees warm code paths.
      const warm = await gen.connect(opts.specs.slice(0, opts.warmupClients), {
        concurrency: opts.concurrency,
        socketIoModule: target.socketIoModule,
      });
      if (warm.failed > 0) throw new Error(`warm-up: ${warm.failed} clients failed: ${warm.errors.join('; ')}`);
      await gen.disconnect();
      await sleep(opts.settleMs);
    }
    const procs = target.serverProcesses();
    const readMemory = async () => {
      if (!opts.heap) return { heap: undefined, rss: rssOf(procs) };
      const heap = await heapsOf(procs);
      // The collection hands pages back to the OS in the background: read RSS once that is done.
      await sleep(opts.settleMs);
      return { heap, rss: rssOf(procs) };
    };
    const before = await readMemory();
    const cpuBefore = procs.map((p) => cpuMsOf(p.pid));
    await gen.begin(0);
    const connectSome = (specs: ClientSpec[]) =>
      gen.connect(specs, { concurrency: opts.concurrency, timeoutMs: opts.timeoutMs ?? 60_000, socketIoModule: target.socketIoModule });
    let mid: Awaited<ReturnType<typeof readMemory>> | undefined;
    let connect: ConnectReport;
    const midpoint = opts.midpoint ?? 0;
    if (midpoint > 0 && midpoint < opts.specs.length) {
      // Two steps, memory read in between: the second step's growth is free of whatever the process held before.
      const firstStep = await connectSome(opts.specs.slice(0, midpoint));
      await sleep(opts.settleMs);
      mid = await readMemory();
      const secondStep = await connectSome(opts.specs.slice(midpoint));
      connect = {
        connected: firstStep.connected + secondStep.connected,
        failed: firstStep.failed + secondStep.failed,
        errors: [...firstStep.errors, ...secondStep.errors].slice(0, 5),
        ms: firstStep.ms + secondStep.ms,
      };
    } else {
      connect = await connectSome(opts.specs);
    }
    const serverCpuMs: Record<string, number> = {};
    procs.forEach((p, i) => (serverCpuMs[p.name] = cpuMsOf(p.pid) - cpuBefore[i]!));
    const gr = await gen.finish([], monoNow());
    await sleep(opts.settleMs);
    const after = await readMemory();
    return {
      clients: connect.connected,
      failed: connect.failed,
      errors: connect.errors,
      workers: gen.size,
      concurrencyPerWorker: opts.concurrency,
      connectMs: connect.ms,
      serverCpuMs,
      rssBeforeBytes: before.rss,
      rssAfterBytes: after.rss,
      midpoint: mid ? midpoint : 0,
      rssMidBytes: mid?.rss,
      heapBefore: before.heap,
      heapMid: mid?.heap,
      heapAfter: after.heap,
      generatorCpuMs: gr.cpuMs,
      generatorRssBytes: gr.rssBytes,
    };
  } finally {
    await gen.disconnect().catch(() => undefined);
    await gen.stop();
  }
}

/** A reconnect storm (S6): how long until every client was back, what it cost the server and its Redis. */
export interface StormMeasurement {
  /** Clients subscribed before the storm. */
  clients: number;
  workers: number;
  storm: StormReport;
  /** Server processes over the storm (from its start until the last client was back). */
  serverCpuMs: Record<string, number>;
  /** RSS of each server process just before the storm, and the highest sampled from then until `tailMs` after it. */
  rssBeforeBytes: Record<string, number>;
  peakRssBytes: Record<string, number>;
  /**
   * Redis commands executed over the same window as the CPU, by command (`INFO commandstats`: the commands a
   * script runs count as well as the EVALSHA that ran it); null without Redis.
   */
  redisCommands: Record<string, number> | null;
  /**
   * The commands Redis executed while the clients first subscribed (before the storm, unmeasured), told apart by
   * MONITOR into those a client connection sent (the target's servers: one round trip each, or less when
   * pipelined) and those a script ran; `subscribes` is the clients subscribed then. Null without Redis.
   */
  redisAtFirstSubscribe: (MonitorCounts & { subscribes: number }) | null;
  /** Kernel listen-queue counters (`listenQueueCounters()`, whole machine) over the storm window; null when unreadable. */
  listenQueue: { overflows: number; drops: number } | null;
}

/**
 * Connects and subscribes every client, waits `settleMs`, then has every client drop its connection at
 * the same instant and reconnect and resubscribe (`LoadGenerator.reconnect`). Around the storm: CPU of the
 * server processes from /proc, their RSS sampled every `sampleMs` until `tailMs` after the last client was
 * back (memory held for closing connections can peak after the last answer), the target's Redis commands
 * (INFO commandstats before and after) and the kernel's listen-queue overflows (/proc/net/netstat before and
 * after). While the clients first subscribe (unmeasured), MONITOR counts which Redis commands the target's
 * servers sent and which their scripts ran (too costly for the storm itself). Disconnects the clients before
 * returning.
 */
export async function measureStorm(
  target: Target,
  opts: {
    specs: ClientSpec[];
    workers: number;
    /** Initial connects in flight per worker (before the storm, unmeasured). */
    concurrency: number;
    settleMs: number;
    storm: { concurrency: number; timeoutMs: number; backoff: Backoff; giveUpMs: number };
    sampleMs: number;
    tailMs: number;
  },
): Promise<StormMeasurement> {
  const gen = await LoadGenerator.start(opts.workers);
  let sampler: ReturnType<typeof samplePeakRss> | undefined;
  let monitor: Awaited<ReturnType<RedisProcess['monitor']>> | undefined;
  try {
    monitor = await target.redis?.monitor();
    const connect = await gen.connect(opts.specs, {
      concurrency: opts.concurrency,
      timeoutMs: 60_000,
      socketIoModule: target.socketIoModule,
    });
    if (connect.failed > 0) {
      throw new Error(`${connect.failed} of ${opts.specs.length} clients failed to connect or subscribe: ${connect.errors.join('; ')}`);
    }
    const atFirstSubscribe = monitor ? { ...(await monitor.stop()), subscribes: connect.connected } : null;
    monitor = undefined;
    await sleep(opts.settleMs);
    const procs = target.serverProcesses();
    const rssBeforeBytes = rssOf(procs);
    const cpuBefore = procs.map((p) => cpuMsOf(p.pid));
    const redisBefore = await target.redis?.commandCalls();
    const listenBefore = listenQueueCounters();
    sampler = samplePeakRss(procs, opts.sampleMs);
    const storm = await gen.reconnect(opts.storm);
    const serverCpuMs: Record<string, number> = {};
    procs.forEach((p, i) => (serverCpuMs[p.name] = cpuMsOf(p.pid) - cpuBefore[i]!));
    const listenAfter = listenQueueCounters();
    const redisAfter = await target.redis?.commandCalls();
    await sleep(opts.tailMs);
    return {
      clients: connect.connected,
      workers: gen.size,
      storm,
      serverCpuMs,
      rssBeforeBytes,
      peakRssBytes: sampler.stop(),
      redisCommands: redisBefore && redisAfter ? difference(redisBefore, redisAfter) : null,
      redisAtFirstSubscribe: atFirstSubscribe,
      listenQueue:
        listenBefore && listenAfter
          ? { overflows: listenAfter.overflows - listenBefore.overflows, drops: listenAfter.drops - listenBefore.drops }
          : null,
    };
  } finally {
    await monitor?.stop().catch(() => undefined);
    sampler?.stop();
    await gen.disconnect().catch(() => undefined);
    await gen.stop();
  }
}

/** `after − before` per key, keys that did not change left out. */
function difference(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) delta[k] = v - (before[k] ?? 0);
  return delta;
}
