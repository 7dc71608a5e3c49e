import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './clock';

/**
 * `strace -c -f -p <pid>` attached to running server processes for one measurement window (`--strace`): how
 * many system calls of each kind they made, to count writes per delivered frame. Under ptrace every system call
 * stops the process twice, so a traced window's timings say nothing about the target; its counts do.
 */

/** Calls per system call name, one process (all its threads). */
export type SyscallCounts = Record<string, number>;

/** Throws, with the install command, when `strace` is not on the PATH. */
export function assertStraceInstalled(): void {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
  } catch {
    throw new Error('--strace needs strace on the PATH: apt-get install -y strace');
  }
}

export class SyscallTrace {
  private constructor(
    private readonly dir: string,
    private readonly tracers: Array<{ name: string; file: string; proc: ChildProcess; exited: Promise<void> }>,
  ) {}

  /** Attaches one `strace -c -f` per process and resolves once each has attached to every thread. */
  static async attach(procs: Array<{ name: string; pid: number }>): Promise<SyscallTrace> {
    const dir = mkdtempSync(join(tmpdir(), 'rt-bench-strace-'));
    const tracers = procs.map(({ name, pid }) => {
      const file = join(dir, `${name}.txt`);
      // Without -q strace says "Process N attached" on stderr once per thread: that is how we know it is in place.
      const proc = spawn('strace', ['-c', '-f', '-o', file, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      return { name, file, proc, exited, attached: () => /attached/.test(stderr), stderr: () => stderr };
    });
    const deadline = Date.now() + 5000;
    while (!tracers.every((t) => t.attached())) {
      const dead = tracers.find((t) => t.proc.exitCode !== null);
      if (dead || Date.now() > deadline) {
        for (const t of tracers) t.proc.kill('SIGINT');
        await Promise.all(tracers.map((t) => t.exited));
        rmSync(dir, { recursive: true, force: true });
        const who = dead ?? tracers.find((t) => !t.attached())!;
        throw new Error(`strace could not attach to ${who.name}: ${who.stderr().trim().slice(0, 300) || 'no answer within 5 s'}`);
      }
      await sleep(20);
    }
    // A thread created by libuv while strace walked /proc/<pid>/task is attached through -f; let the last ones settle.
    await sleep(100);
    return new SyscallTrace(dir, tracers);
  }

  /** Detaches (strace writes its summary on SIGINT) and reads each process's counts. */
  async detach(): Promise<Record<string, SyscallCounts>> {
    for (const t of this.tracers) t.proc.kill('SIGINT');
    await Promise.all(this.tracers.map((t) => t.exited));
    const counts: Record<string, SyscallCounts> = {};
    try {
      for (const t of this.tracers) counts[t.name] = parseStraceSummary(readFileSync(t.file, 'utf8'));
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
    return counts;
  }
}

/**
 * The table `strace -c` writes:
 *   % time     seconds  usecs/call     calls    errors syscall
 *    18.22    0.036063           3      9800           write
 * (the errors column may be empty; the `total` line is left out).
 */
export function parseStraceSummary(text: string): SyscallCounts {
  const counts: SyscallCounts = {};
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m && m[2] !== 'total') counts[m[2]!] = Number(m[1]);
  }
  return counts;
}
