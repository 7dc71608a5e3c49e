import type { MultiBar, SingleBar } from 'cli-progress';
import { TypeCounts } from './backfill-summary';

/** Where the run reports as it goes; `note` is a line that must not be drawn over (a retry, a problem). */
export interface BackfillProgress {
  update(totals: TypeCounts): void;
  note(line: string): void;
  stop(): void;
}

/** One line of progress (the non-TTY output, and the bar's text). */
export function progressLine(t: TypeCounts, dryRun: boolean, elapsedMs: number): string {
  const secs = (elapsedMs / 1000).toFixed(0);
  if (dryRun) return `backfill: read ${t.read}, failed ${t.failed} (${secs} s)`;
  return `backfill: read ${t.read}, sent ${t.sent} (accepted ${t.accepted}, duplicates ${t.duplicates}, stale ${t.stale}), failed ${t.failed} (${secs} s)`;
}

/**
 * Plain lines on a stream that is not a terminal (a log, a CI job): one every `intervalMs` while the run
 * moves, so a long backfill shows it is alive without flooding the log.
 */
export function lineProgress(write: (text: string) => void, dryRun: boolean, intervalMs: number, now: () => number): BackfillProgress {
  const started = now();
  let latest: TypeCounts | null = null;
  let printed = '';
  const timer = setInterval(() => {
    if (!latest) return;
    const line = progressLine(latest, dryRun, now() - started);
    // Same counts as last time: say nothing (the elapsed seconds alone are no news).
    const key = line.replace(/ \(\d+ s\)$/, '');
    if (key === printed) return;
    printed = key;
    write(`${line}\n`);
  }, intervalMs);
  timer.unref();
  return {
    update: (totals) => {
      latest = { ...totals };
    },
    note: (line) => write(`${line}\n`),
    stop: () => clearInterval(timer),
  };
}

/**
 * A cli-progress bar on a terminal: events done (sent or failed; read in a dry run) out of events read so
 * far, the total growing as the source is read. cli-progress is a devDependency: the CLI runs from the
 * repository; where it is missing (an image with production dependencies only) plain lines are used.
 */
export async function barProgress(
  stream: NodeJS.WriteStream,
  dryRun: boolean,
  fallback: () => BackfillProgress,
): Promise<BackfillProgress> {
  let cp: typeof import('cli-progress');
  try {
    cp = await import('cli-progress');
  } catch {
    return fallback();
  }
  const format = dryRun
    ? 'backfill |{bar}| read {value} | failed {failed} | {duration_formatted}'
    : 'backfill |{bar}| {value}/{total} events | accepted {accepted} duplicates {duplicates} stale {stale} failed {failed} | {duration_formatted}';
  const multi: MultiBar = new cp.MultiBar(
    { stream, format, hideCursor: true, clearOnComplete: false, stopOnComplete: false, fps: 10, etaBuffer: 50 },
    cp.Presets.shades_classic,
  );
  const payload = (t: TypeCounts) => ({ accepted: t.accepted, duplicates: t.duplicates, stale: t.stale, failed: t.failed });
  const bar: SingleBar = multi.create(0, 0, payload({ read: 0, sent: 0, accepted: 0, duplicates: 0, stale: 0, failed: 0 }));
  return {
    update: (t) => {
      bar.setTotal(Math.max(1, t.read));
      bar.update(dryRun ? t.read : t.sent + t.failed, payload(t));
    },
    note: (line) => multi.log(`${line}\n`),
    stop: () => multi.stop(),
  };
}
