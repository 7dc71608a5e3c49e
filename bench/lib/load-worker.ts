import WebSocket from 'ws';
import { monoNow, sleep } from './clock';
import { BenchFields, isPingBytes, scanBytes, scanText } from './frame-scan';
import { LatencyHistogram } from './histogram';
import type { Backoff, ClientSpec, ConnectReport, FromWorker, ReconnectReport, ToWorker, WorkerReport } from './worker-protocol';

/**
 * A load-generator worker process (forked by LoadGenerator): holds its share of the clients, reads the
 * benchmark fields of every frame from the raw bytes (no JSON.parse), and records latency, losses and its
 * own CPU. Everything it does per frame is O(1) and allocation-light, so that the generator is not what
 * the benchmark measures.
 */

const PONG = JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'pong' } } });

interface SocketIoModule {
  connectSocketIoClient(
    url: string,
    topics: readonly string[],
    onFrameText: (text: string) => void,
    localAddress?: string,
  ): Promise<{ close(): void }>;
}

class BenchClient {
  /** One byte per event id: 1 once received. */
  seen = new Uint8Array(64);
  distinct = 0;
  answers = 0;
  /** Bytes of the answers to its subscribes (plain WebSocket clients). */
  answerBytes = 0;
  closed = false;
  close: () => void = () => undefined;
  readonly keys: Set<number> | null;

  constructor(readonly spec: ClientSpec) {
    this.keys = spec.keys ? new Set(spec.keys) : null;
  }

  /** True the first time an id is seen. */
  mark(id: number): boolean {
    if (id >= this.seen.length) {
      let size = this.seen.length;
      while (size <= id) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.seen);
      this.seen = grown;
    }
    if (this.seen[id] === 1) return false;
    this.seen[id] = 1;
    this.distinct++;
    return true;
  }

  has(id: number): boolean {
    return id < this.seen.length && this.seen[id] === 1;
  }
}

class Worker {
  private clients: BenchClient[] = [];
  private measuring = false;
  private ingestTargets = 0;
  private all = new LatencyHistogram();
  private same = new LatencyHistogram();
  private cross = new LatencyHistogram();
  private lastByEvent: number[] = [];
  private frames = 0;
  private duplicates = 0;
  private other = 0;
  private closedEarly = 0;
  private totalFrames = 0;
  private firstFrameAt = 0;
  private lastFrameAt = 0;
  private beganAt = 0;
  private cpuAtBegin = process.cpuUsage();
  private readonly fields: BenchFields = { id: -1, ts: NaN };
  private socketIo: SocketIoModule | null = null;

  async handle(msg: ToWorker): Promise<unknown> {
    switch (msg.type) {
      case 'connect':
        return this.connect(msg.specs, msg.concurrency, msg.timeoutMs, msg.socketIoModule);
      case 'count':
        return this.totalFrames;
      case 'begin':
        this.begin(msg.ingestTargets);
        return null;
      case 'finish':
        return this.finish(msg.events, msg.deadline);
      case 'reconnect':
        return this.reconnect(msg);
      case 'disconnect':
        for (const c of this.clients) {
          c.closed = true;
          c.close();
        }
        this.clients = [];
        return null;
    }
  }

  private async connect(specs: ClientSpec[], concurrency: number, timeoutMs: number, socketIoModule?: string): Promise<ConnectReport> {
    const started = monoNow();
    await this.loadSocketIo(specs, socketIoModule);
    const report: ConnectReport = { connected: 0, failed: 0, errors: [], ms: 0 };
    await inLanes(specs.length, concurrency, async (i) => {
      try {
        this.clients.push(await this.open(specs[i]!, timeoutMs));
        report.connected++;
      } catch (err) {
        report.failed++;
        if (report.errors.length < 5) report.errors.push(String((err as Error).message ?? err));
      }
    });
    report.ms = monoNow() - started;
    return report;
  }

  private async loadSocketIo(specs: ClientSpec[], socketIoModule?: string): Promise<void> {
    if (this.socketIo || !specs.some((s) => s.kind === 'socketio')) return;
    if (!socketIoModule) throw new Error('Socket.IO clients requested but no Socket.IO peer module given');
    this.socketIo = (await import(socketIoModule)) as SocketIoModule;
  }

  /** One client connected and subscribed within `timeoutMs`; on failure its socket is closed and the error thrown. */
  private async open(spec: ClientSpec, timeoutMs: number): Promise<BenchClient> {
    const client = new BenchClient(spec);
    try {
      await withTimeout(
        spec.kind === 'ws' ? this.openWs(client) : this.openSocketIo(client),
        timeoutMs,
        `connect ${spec.url.split('?')[0]}`,
      );
      return client;
    } catch (err) {
      client.closed = true;
      client.close();
      throw err;
    }
  }

  /**
   * The reconnect storm (S6): at `at`, every client drops its connection at once, then each connects and
   * subscribes again (`concurrency` in flight, 0: all at once), retrying with jittered exponential back-off
   * until `giveUpAt`. Times are from `at` to the client's subscribe answer, so they include the back-off.
   */
  private async reconnect(msg: Extract<ToWorker, { type: 'reconnect' }>): Promise<ReconnectReport> {
    await sleep(msg.at - monoNow());
    const cpuBefore = process.cpuUsage();
    const dropped = this.clients;
    this.clients = [];
    for (const c of dropped) {
      c.closed = true;
      c.close();
    }
    const times = new LatencyHistogram();
    const tally = { reconnected: 0, failed: 0, retries: 0, errors: [] as string[], lastAt: 0, answerBytes: 0 };
    await inLanes(dropped.length, msg.concurrency || dropped.length, async (i) => {
      const spec = dropped[i]!.spec;
      for (let attempt = 0; ; attempt++) {
        try {
          const client = await this.open(spec, msg.timeoutMs);
          const now = monoNow();
          this.clients.push(client);
          times.recordMs(now - msg.at);
          tally.lastAt = Math.max(tally.lastAt, now);
          tally.answerBytes += client.answerBytes;
          tally.reconnected++;
          return;
        } catch (err) {
          if (tally.errors.length < 5) tally.errors.push(String((err as Error).message ?? err));
          if (monoNow() >= msg.giveUpAt) {
            tally.failed++;
            return;
          }
          tally.retries++;
          await sleep(backoffMs(msg.backoff, attempt));
        }
      }
    });
    const cpu = process.cpuUsage(cpuBefore);
    return { ...tally, timeToSnapshot: times.toData(), cpuMs: (cpu.user + cpu.system) / 1000 };
  }

  private openWs(client: BenchClient): Promise<void> {
    const { spec } = client;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(spec.url, { localAddress: spec.localAddress, skipUTF8Validation: true });
      client.close = () => ws.terminate();
      let ready = false;
      ws.on('open', () => {
        for (const topic of spec.topics) ws.send(JSON.stringify({ action: 'subscribe', payload: { topic } }));
        if (spec.topics.length === 0) {
          ready = true;
          resolve();
        }
      });
      ws.on('message', (raw: WebSocket.RawData) => {
        const data = raw as Buffer;
        this.totalFrames++;
        if (this.measuring) {
          scanBytes(data, this.fields);
          if (this.fields.id > 0) return this.measured(client, this.fields);
        }
        if (isPingBytes(data)) {
          ws.send(PONG);
          this.other++;
          return;
        }
        if (!ready) {
          if (data.indexOf('"action":"error"') >= 0) return reject(new Error(`subscribe refused: ${data.toString().slice(0, 200)}`));
          client.answerBytes += data.length;
          if (++client.answers === spec.topics.length) {
            ready = true;
            resolve();
          }
          return;
        }
        this.other++;
      });
      ws.on('unexpected-response', (_req, res) => reject(new Error(`handshake refused: HTTP ${res.statusCode}`)));
      ws.on('error', (err) => reject(err));
      ws.on('close', () => {
        if (!client.closed && this.measuring) this.closedEarly++;
        client.closed = true;
        reject(new Error('closed before subscribed'));
      });
    });
  }

  private async openSocketIo(client: BenchClient): Promise<void> {
    const { spec } = client;
    // One `subscribe` per topic; ready once each is acknowledged.
    const handle = await this.socketIo!.connectSocketIoClient(
      spec.url,
      spec.topics,
      (text) => {
        this.totalFrames++;
        if (!this.measuring) return;
        scanText(text, this.fields);
        if (this.fields.id > 0) this.measured(client, this.fields);
        else this.other++;
      },
      spec.localAddress,
    );
    client.close = () => handle.close();
    // Subscribed only after the attempt timed out (and was given up): do not leave the connection open.
    if (client.closed) handle.close();
  }

  private measured(client: BenchClient, f: BenchFields): void {
    const now = monoNow();
    this.frames++;
    if (!client.mark(f.id)) {
      this.duplicates++;
      return;
    }
    const latency = now - f.ts;
    this.all.recordMs(latency);
    if (this.ingestTargets > 0) (f.id % this.ingestTargets === client.spec.group ? this.same : this.cross).recordMs(latency);
    const prev = this.lastByEvent[f.id];
    if (prev === undefined || latency > prev) this.lastByEvent[f.id] = latency;
    if (this.firstFrameAt === 0) this.firstFrameAt = now;
    this.lastFrameAt = now;
  }

  private begin(ingestTargets: number): void {
    this.ingestTargets = ingestTargets;
    this.all = new LatencyHistogram();
    this.same = new LatencyHistogram();
    this.cross = new LatencyHistogram();
    this.lastByEvent = [];
    this.frames = this.duplicates = this.other = this.closedEarly = 0;
    this.firstFrameAt = this.lastFrameAt = 0;
    for (const c of this.clients) {
      c.seen = new Uint8Array(64);
      c.distinct = 0;
    }
    this.beganAt = monoNow();
    this.cpuAtBegin = process.cpuUsage();
    this.measuring = true;
  }

  private async finish(events: Array<[number, number]>, deadline: number): Promise<WorkerReport> {
    const idsByKey = new Map<number, number[]>();
    for (const [id, key] of events) {
      const list = idsByKey.get(key);
      if (list) list.push(id);
      else idsByKey.set(key, [id]);
    }
    const expectedOf = (c: BenchClient) => {
      if (!c.keys) return events.length;
      let n = 0;
      for (const k of c.keys) n += idsByKey.get(k)?.length ?? 0;
      return n;
    };
    const expected = this.clients.map(expectedOf);
    // Wait until every client holds as many distinct events as it should, or the deadline.
    while (monoNow() < deadline && this.clients.some((c, i) => c.distinct < expected[i]!)) await sleep(20);
    this.measuring = false;
    const cpu = process.cpuUsage(this.cpuAtBegin);
    let lost = 0;
    let received = 0;
    let expectedTotal = 0;
    for (const c of this.clients) {
      const check = (id: number) => {
        expectedTotal++;
        if (c.has(id)) received++;
        else lost++;
      };
      if (!c.keys) for (const [id] of events) check(id);
      else for (const k of c.keys) for (const id of idsByKey.get(k) ?? []) check(id);
    }
    const distinct = this.clients.reduce((n, c) => n + c.distinct, 0);
    const lastByEvent: number[] = [];
    for (const [id] of events) lastByEvent[id] = this.lastByEvent[id] ?? -1;
    return {
      clients: this.clients.length,
      frames: this.frames,
      expected: expectedTotal,
      lost,
      duplicates: this.duplicates,
      unexpected: distinct - received,
      other: this.other,
      closedEarly: this.closedEarly,
      all: this.all.toData(),
      same: this.same.toData(),
      cross: this.cross.toData(),
      lastByEvent: Array.from(lastByEvent, (v) => v ?? -1),
      firstFrameAt: this.firstFrameAt,
      lastFrameAt: this.lastFrameAt,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      windowMs: monoNow() - this.beganAt,
      rssBytes: process.memoryUsage().rss,
    };
  }
}

/** Runs `task(0 … count − 1)` with at most `concurrency` running at a time. */
async function inLanes(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, lane));
}

/** The delay before retry `attempt` (0-based): doubling from `firstMs` up to `maxMs`, jittered to [½, 1] of it. */
function backoffMs(b: Backoff, attempt: number): number {
  const full = Math.min(b.maxMs, b.firstMs * 2 ** attempt);
  return full / 2 + (Math.random() * full) / 2;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}

if (require.main === module) {
  if (!process.send) {
    process.stderr.write('load-worker runs as a child of the benchmark (child_process.fork)\n');
    process.exit(2);
  }
  const worker = new Worker();
  const reply = (m: FromWorker) => process.send!(m);
  process.on('message', (msg: ToWorker) => {
    worker.handle(msg).then(
      (body) => reply({ type: 'reply', req: msg.req, body }),
      (err) => reply({ type: 'failed', req: msg.req, error: String((err as Error).stack ?? err) }),
    );
  });
  // The coordinator going away ends the worker (no orphans holding thousands of sockets).
  process.on('disconnect', () => process.exit(0));
}
