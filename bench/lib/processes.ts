import { ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freeLoopbackPort as freePort } from '../../src/ops/cluster-local/managed-process';
import { sleep } from './clock';

/**
 * The processes a benchmark run starts (redis-server, replicas of the service, peers), how to find the
 * repository, and CPU/RSS of a process read from /proc. Every child is registered and killed when the run
 * ends, however it ends.
 */

const children = new Set<ChildProcess>();
let cleanupInstalled = false;

function track(proc: ChildProcess): void {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
}

/** The repository root: the nearest directory above this file holding our package.json. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tiledesk-realtime') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (package.json of tiledesk-realtime)');
    dir = up;
  }
}

/** Benchmarks never leave the machine: every URL must point into 127.0.0.0/8. */
export function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) throw new Error(`refusing non-loopback address ${url}`);
}

export { freePort };

/** CPU time (user + system) a process has used so far, in ms (from /proc; 10 ms resolution). */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / clockTicks();
  } catch {
    return NaN;
  }
}

export function rssBytesOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Samples the RSS of some processes every `intervalMs` until `stop()`, which returns the largest reading of
 * each (by name; NaN when a process could never be read).
 */
export function samplePeakRss(procs: Array<{ name: string; pid: number }>, intervalMs = 100): { stop(): Record<string, number> } {
  const peak: Record<string, number> = {};
  const sample = () => {
    for (const p of procs) {
      const rss = rssBytesOf(p.pid);
      if (rss > (peak[p.name] ?? -1)) peak[p.name] = rss;
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      for (const p of procs) peak[p.name] ??= NaN;
      return peak;
    },
  };
}

/**
 * The kernel's listen-queue counters (`TcpExt` in /proc/net/netstat): `overflows` (ListenOverflows) counts the
 * connections a listener could not queue for accept() because its backlog was full, so the SYN or the
 * handshake's last ACK was dropped and the client had to send its SYN again; `drops` (ListenDrops) every
 * connection dropped at a listener, overflows included. Counted for the whole network namespace, i.e. every
 * listening socket of the machine, since boot; null when the file cannot be read.
 */
export function listenQueueCounters(): { overflows: number; drops: number } | null {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    // Two lines per group: "TcpExt: <names>", then "TcpExt: <values>".
    const at = lines.findIndex((l) => l.startsWith('TcpExt:'));
    if (at < 0 || !lines[at + 1]?.startsWith('TcpExt:')) return null;
    const names = lines[at]!.trim().split(/\s+/);
    const values = lines[at + 1]!.trim().split(/\s+/);
    const read = (name: string) => {
      const i = names.indexOf(name);
      return i > 0 ? Number(values[i]) : NaN;
    };
    const counters = { overflows: read('ListenOverflows'), drops: read('ListenDrops') };
    return Number.isFinite(counters.overflows) && Number.isFinite(counters.drops) ? counters : null;
  } catch {
    return null;
  }
}

/** What a Node server process reports about its memory after a full garbage collection (bytes). */
export interface HeapReading {
  heapUsed: number;
  heapTotal: number;
  /** C++ objects bound to JavaScript ones, Buffers included. */
  external: number;
  arrayBuffers: number;
  rss: number;
}

/** The variable heap-probe.ts reads: the directory where it writes `<pid>.json`. */
const HEAP_DIR_ENV = 'BENCH_HEAP_DIR';
let heapDir: string | null = null;

/** Where the heap probes write their answers: one directory per run, removed when the run ends. */
function heapProbeDir(): string {
  if (heapDir === null) {
    const dir = mkdtempSync(join(tmpdir(), 'rt-bench-heap-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    heapDir = dir;
  }
  return heapDir;
}

/**
 * The environment that loads the heap probe (`heap-probe.ts`) into a Node server process: `--require` in
 * NODE_OPTIONS (added to what the runner was given) and the directory it answers in.
 */
export function heapProbeEnv(): Record<string, string> {
  const preload = `--require ${JSON.stringify(join(__dirname, 'heap-probe.js'))}`;
  return {
    NODE_OPTIONS: [process.env.NODE_OPTIONS, preload].filter(Boolean).join(' '),
    [HEAP_DIR_ENV]: heapProbeDir(),
  };
}

/**
 * Asks a process started with `heapProbeEnv()` for its memory: SIGURG makes it collect garbage and write
 * `process.memoryUsage()` to `<dir>/<pid>.json`, which this waits for (a busy event loop answers late).
 * (A process without the probe ignores SIGURG; this then times out.)
 */
export async function readHeap(pid: number, timeoutMs = 10_000): Promise<HeapReading> {
  const file = join(heapProbeDir(), `${pid}.json`);
  rmSync(file, { force: true });
  process.kill(pid, 'SIGURG');
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not answer the heap probe within ${timeoutMs} ms`);
    await sleep(10);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as HeapReading;
}

let ticksPerSecond = 0;
function clockTicks(): number {
  if (ticksPerSecond === 0) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function processExited(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

async function killAndWait(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (processExited(proc)) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Commands by name (lower case) as MONITOR showed them: sent by a client connection, or run by a script. */
export interface MonitorCounts {
  sent: Record<string, number>;
  scripted: Record<string, number>;
}

/** A `redis-server` on a free loopback port, no persistence. */
export class RedisProcess {
  private constructor(
    readonly port: number,
    readonly proc: ChildProcess,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** `extraArgs`: e.g. `['--replicaof', '127.0.0.1', port]` for a replica of another one (--wait-replicas). */
  static async start(extraArgs: string[] = []): Promise<RedisProcess> {
    try {
      execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('redis-server is not installed; the benchmark needs it (`apt-get install -y redis-server`)');
    }
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'rt-bench-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    track(proc);
    let output = '';
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(port))) {
      if (processExited(proc)) throw new Error(`redis-server exited: ${output}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not start: ${output}`);
      await sleep(20);
    }
    return new RedisProcess(port, proc, dir);
  }

  /** Waits until this replica's link to its primary is up (the first sync can take Redis's diskless-sync delay, 5 s). */
  async waitSynced(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!/master_link_status:up/.test(await sendCommand(this.port, 'INFO replication'))) {
      if (Date.now() > deadline) throw new Error(`redis replica on ${this.port} did not sync within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** Empties every database (a fresh start for the next target). */
  async flushAll(): Promise<void> {
    const reply = await sendCommand(this.port, 'FLUSHALL');
    if (reply.startsWith('+OK')) return;
    // Say so when the server is gone (something else on the machine ended it): every later target would fail alike.
    if (processExited(this.proc))
      throw new Error(`redis-server ${this.pid} is gone (${this.proc.signalCode ?? `exit ${this.proc.exitCode}`})`);
    throw new Error(`FLUSHALL answered ${reply || 'nothing within 5 s (or the connection failed)'}`);
  }

  /**
   * Calls per command since the server started (`INFO commandstats`, e.g. `{ evalsha: 120, get: 40 }`);
   * the difference of two readings is what happened in between (the INFO calls themselves are left out).
   */
  async commandCalls(): Promise<Record<string, number>> {
    const info = await sendCommand(this.port, 'INFO commandstats');
    if (!info.includes('# Commandstats')) throw new Error(`INFO commandstats answered ${info.slice(0, 200)}`);
    const calls: Record<string, number> = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info') calls[m[1]!] = Number(m[2]);
    return calls;
  }

  /**
   * Starts counting the commands Redis executes by who issued them: a client connection (`sent`), or a script
   * (`scripted`: MONITOR shows `[<db> lua]` as the source of a command a script ran). `INFO commandstats` and
   * `total_commands_processed` count the two alike (a script's commands and the EVALSHA that ran them), so this
   * is the only way to count what clients sent. MONITOR costs Redis about as much again per command as the
   * command itself: use it over windows that are not measured. It does not show administrative commands
   * (CONFIG, DEBUG, …). `stop()` sends a marker (ECHO) on another connection, waits until MONITOR has shown it,
   * so that everything before is counted, and closes.
   */
  async monitor(timeoutMs = 10_000): Promise<{ stop(): Promise<MonitorCounts> }> {
    const counts: MonitorCounts = { sent: {}, scripted: {} };
    const marker = `rt-bench-monitor-end-${randomBytes(6).toString('hex')}`;
    const sock = createConnection({ port: this.port, host: '127.0.0.1' });
    sock.setEncoding('latin1');
    let started = false;
    let ended = false;
    let rest = '';
    let failure: Error | null = null;
    const count = (line: string): void => {
      // +<time> [<db> <address>|lua] "<command>" "<arg>" …
      const open = line.indexOf(' [');
      const close = open < 0 ? -1 : line.indexOf('] "', open);
      if (close < 0) return;
      const name = line.slice(close + 3, line.indexOf('"', close + 3)).toLowerCase();
      if (name === 'echo' && line.includes(marker)) {
        ended = true;
        return;
      }
      if (name === 'info') return; // as in commandCalls()
      const bucket = line.slice(open + 2, close).endsWith(' lua') ? counts.scripted : counts.sent;
      bucket[name] = (bucket[name] ?? 0) + 1;
    };
    sock.on('data', (chunk: string) => {
      if (ended) return;
      const text = rest + chunk;
      const last = text.lastIndexOf('\r\n');
      if (last < 0) {
        rest = text;
        return;
      }
      rest = text.slice(last + 2);
      for (const line of text.slice(0, last).split('\r\n')) {
        if (started) {
          if (!ended) count(line);
        } else if (line === '+OK') started = true;
        else failure ??= new Error(`MONITOR answered ${line.slice(0, 200)}`);
      }
    });
    sock.on('error', (err) => (failure = err));
    sock.once('close', () => (failure ??= new Error('MONITOR connection closed')));
    sock.write('MONITOR\r\n');
    const until = async (done: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      while (!done()) {
        if (failure) throw failure;
        if (Date.now() > deadline) throw new Error(`MONITOR: ${what} within ${timeoutMs} ms`);
        await sleep(5);
      }
    };
    try {
      await until(() => started, 'no answer');
    } catch (err) {
      sock.destroy();
      throw err;
    }
    return {
      stop: async () => {
        try {
          await sendCommand(this.port, `ECHO ${marker}`);
          await until(() => ended, 'marker not seen');
          return counts;
        } finally {
          sock.destroy();
        }
      },
    };
  }

  async stop(): Promise<void> {
    await killAndWait(this.proc, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Sends one inline command and resolves with its reply, read whole: a simple reply up to its line end, a bulk
 * reply (`$<length>`) up to its last byte ('' when unreachable or unanswered within 5 s).
 */
function sendCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    let reply = Buffer.alloc(0);
    const done = (text: string) => {
      sock.destroy();
      resolve(text);
    };
    sock.setTimeout(5000);
    sock.once('connect', () => sock.write(`${command}\r\n`));
    sock.on('data', (d: Buffer) => {
      reply = Buffer.concat([reply, d]);
      const lineEnd = reply.indexOf('\r\n');
      if (lineEnd < 0) return;
      if (reply[0] !== 0x24) return done(reply.toString()); // not '$': one line
      const length = Number(reply.subarray(1, lineEnd).toString());
      if (length < 0) return done('');
      if (reply.length >= lineEnd + 2 + length + 2) done(reply.subarray(lineEnd + 2, lineEnd + 2 + length).toString());
    });
    sock.once('timeout', () => done(''));
    sock.once('error', () => done(''));
  });
}

async function answersPing(port: number): Promise<boolean> {
  return (await sendCommand(port, 'PING')).startsWith('+PONG');
}

/** One replica of our service: the compiled `dist/main.js` (npm run build), as its own OS process. */
export class ServiceReplica {
  readonly output: string[] = [];

  private constructor(
    readonly port: number,
    readonly proc: ChildProcess,
  ) {
    proc.stdout?.on('data', (d: Buffer) => this.keep(d));
    proc.stderr?.on('data', (d: Buffer) => this.keep(d));
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  private keep(d: Buffer): void {
    this.output.push(d.toString());
    if (this.output.length > 200) this.output.splice(0, 100);
  }

  /** `nodeArgs` go before the script, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (written when the replica stops). */
  static async start(env: Record<string, string>, nodeArgs: string[] = []): Promise<ServiceReplica> {
    const main = join(repoRoot(), 'dist', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm run bench does)`);
    const port = await freePort();
    const proc = spawn(process.execPath, [...nodeArgs, main], {
      // SHUTDOWN_DRAIN_MS 0: stopping a replica between measurements closes what is left at once.
      env: { PATH: process.env.PATH, PORT: String(port), LOG_LEVEL: 'warn', SHUTDOWN_DRAIN_MS: '0', METRICS_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(proc);
    const replica = new ServiceReplica(port, proc);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (processExited(proc)) throw new Error(`replica exited during start: ${replica.output.join('')}`);
      try {
        const res = await fetch(`${replica.httpUrl}/readyz`);
        if (res.status === 200) return replica;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`replica not ready on ${port}: ${replica.output.join('')}`);
      await sleep(50);
    }
  }

  stop(): Promise<void> {
    return killAndWait(this.proc);
  }
}

/**
 * Forks a compiled benchmark module (a peer server) that reports `{type: 'ready', ...}` over IPC once it
 * listens; resolves with that message. `env` is added to the runner's environment.
 */
export async function forkReady<T extends { type: 'ready' }>(
  modulePath: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ proc: ChildProcess; ready: T; stop(): Promise<void> }> {
  const proc = fork(modulePath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
  track(proc);
  const ready = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${modulePath} did not report ready`)), 30_000);
    proc.on('message', (m: T) => {
      if (m && m.type === 'ready') {
        clearTimeout(timer);
        resolve(m);
      }
    });
    proc.once('exit', (code) => reject(new Error(`${modulePath} exited (${code}) before ready`)));
  });
  return { proc, ready, stop: () => killAndWait(proc) };
}
