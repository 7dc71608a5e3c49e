import { ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

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

  static async start(): Promise<RedisProcess> {
    try {
      execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('redis-server is not installed; the benchmark needs it (`apt-get install -y redis-server`)');
    }
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'rt-bench-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
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

  /** Empties every database (a fresh start for the next target). */
  async flushAll(): Promise<void> {
    const reply = await sendCommand(this.port, 'FLUSHALL');
    if (!reply.startsWith('+OK')) throw new Error(`FLUSHALL answered ${reply}`);
  }

  async stop(): Promise<void> {
    await killAndWait(this.proc, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Sends one inline command and resolves with the first reply chunk ('' when unreachable). */
function sendCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    sock.setTimeout(5000);
    sock.once('connect', () => sock.write(`${command}\r\n`));
    sock.once('data', (d) => {
      sock.destroy();
      resolve(d.toString());
    });
    sock.once('timeout', () => {
      sock.destroy();
      resolve('');
    });
    sock.once('error', () => resolve(''));
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
      env: { PATH: process.env.PATH, PORT: String(port), LOG_LEVEL: 'warn', ...env },
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
 * listens; resolves with that message.
 */
export async function forkReady<T extends { type: 'ready' }>(
  modulePath: string,
  args: string[],
): Promise<{ proc: ChildProcess; ready: T; stop(): Promise<void> }> {
  const proc = fork(modulePath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
