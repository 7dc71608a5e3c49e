import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A bench-only preload, never part of the service: the runner's starters load it into the server processes
 * they start (our replicas, the peers) with `--require` in NODE_OPTIONS (`heapProbeEnv()` in processes.ts).
 * On SIGURG the process runs a full garbage collection and writes `process.memoryUsage()` as JSON to
 * `$BENCH_HEAP_DIR/<pid>.json`, written aside and renamed so that the reader (`readHeap()`) never sees half
 * a file. The processes have no IPC channel in common (the replicas and the Socket.IO peer have none), so
 * a signal and a file it is. Why SIGURG: SIGUSR1 starts Node's inspector; SIGUSR2 (like SIGHUP) ends a
 * process that does not handle it, and SIGINT/SIGTERM stop our replicas; SIGWINCH reaches
 * every process of the terminal's foreground group when it is resized. SIGURG is raised by nothing here
 * (no socket asks for out-of-band data) and is ignored by default, so a process without the probe survives
 * it. `gc` comes from a fresh context once `--expose-gc` is set at run time, so no process needs a flag at
 * start and nothing changes until the first probe.
 */

let collect: (() => void) | null = null;

function fullGc(): void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}

function answer(dir: string): void {
  fullGc();
  const file = join(dir, `${process.pid}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(process.memoryUsage()));
  renameSync(`${file}.tmp`, file);
}

const dir = process.env.BENCH_HEAP_DIR;
if (dir) process.on('SIGURG', () => answer(dir));
