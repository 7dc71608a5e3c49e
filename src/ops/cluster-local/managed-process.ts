import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** Keeps the tail of a child's output for error messages, however long it runs. */
const OUTPUT_TAIL_CHARS = 64 * 1024;

/**
 * One child of `npm run cluster:local` (redis-server, a replica, haproxy): its output kept for errors and
 * forwarded line by line, its exit awaited, stopped with a signal and then SIGKILL if it does not go in time.
 *
 * Children run in their own process group, so a Ctrl-C in the terminal reaches only cluster:local, which then
 * stops them in order (replicas drain before the proxy goes, Redis goes last) instead of all dying at once.
 */
export class ManagedProcess {
  private tail = '';
  private partial = '';
  private spawnFailed = false;
  private readonly exit: Promise<void>;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    onLine: ((name: string, line: string) => void) | undefined,
  ) {
    const collect = (chunk: Buffer) => {
      const text = chunk.toString();
      this.tail = (this.tail + text).slice(-OUTPUT_TAIL_CHARS);
      if (!onLine) return;
      const lines = (this.partial + text).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') onLine(name, line);
    };
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    this.exit = new Promise((resolve) => {
      if (this.exited) resolve();
      proc.once('exit', () => resolve());
      // A spawn failure (ENOENT, EACCES) may come without an 'exit': it counts as one, its message as output.
      proc.on('error', (err) => {
        this.tail += `\n${err.message}`;
        if (proc.pid === undefined) {
          this.spawnFailed = true;
          resolve();
        }
      });
    });
  }

  static start(
    name: string,
    command: string,
    args: string[],
    env: Record<string, string | undefined>,
    onLine?: (name: string, line: string) => void,
  ): ManagedProcess {
    const proc = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    return new ManagedProcess(name, proc, onLine);
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get exited(): boolean {
    return this.spawnFailed || this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  /** What the child printed last (stdout and stderr together). */
  get output(): string {
    return this.tail;
  }

  /** Resolves once the child has exited. */
  waitExit(): Promise<void> {
    return this.exit;
  }

  /** Sends the signal and waits for the exit; SIGKILL after `graceMs` if it is still there. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    this.proc.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    const outcome = await Promise.race([this.exit.then(() => 'exited' as const), late]);
    clearTimeout(timer);
    if (outcome === 'late' && !this.exited) {
      this.proc.kill('SIGKILL');
      await this.exit;
    }
  }

  /** Synchronous last resort when cluster:local itself exits: nothing it started outlives it. */
  killNow(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}

/** A TCP port nobody listens on right now on the loopback interface. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something already listens on 127.0.0.1:port (for a clear error before haproxy fails to bind). */
export function loopbackPortInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(false)));
  });
}
