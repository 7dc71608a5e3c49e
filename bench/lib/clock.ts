/**
 * One clock for every process of a run: CLOCK_MONOTONIC in milliseconds (what `process.hrtime` reads), which
 * is the same clock in every process of the machine, so a timestamp written by the sender can be subtracted
 * from a receive time taken in a load-generator worker. `performance.now()` reads the same clock without
 * allocating; its offset is fixed per process and taken from the tightest of a few paired readings (the very
 * first `performance.now()` call of a process is slow, which would skew a single reading by a millisecond).
 */
function measureOffset(): number {
  performance.now();
  process.hrtime.bigint();
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 20; i++) {
    const before = performance.now();
    const hr = Number(process.hrtime.bigint()) / 1e6;
    const after = performance.now();
    if (after - before < best) {
      best = after - before;
      offset = hr - (before + after) / 2;
    }
  }
  return offset;
}

const offsetMs = measureOffset();

export function monoNow(): number {
  return performance.now() + offsetMs;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
