import { BackfillOptions } from './backfill-args';
import { Envelope, FatalError, SourceItem } from './backfill-envelope';
import { AbortedError, HttpDeps, RetryNotice, RetryOptions, sleep } from './backfill-http';
import { readJsonlFile } from './backfill-jsonl';
import { BackfillProgress, barProgress, lineProgress } from './backfill-progress';
import { BackfillSummary, formatSummary, SummaryCounter } from './backfill-summary';
import { IngestTarget } from './backfill-target';
import { TiledeskApi, tiledeskItems } from './backfill-tiledesk-source';

/** Where a run writes, and its clock and network (the real ones in the CLI; tests may replace them). */
export interface BackfillIo {
  /** stdout: the envelopes of a dry run, one JSON line each. */
  out: (line: string) => void;
  /** stderr: progress, retries, the summary. */
  err: (text: string) => void;
  /** A terminal for the progress bar; otherwise progress is plain lines on `err`. */
  tty?: NodeJS.WriteStream;
  /** Plain progress lines at most this often (default 5 s). */
  progressIntervalMs?: number;
  fetch?: typeof fetch;
  sleep?: HttpDeps['sleep'];
  random?: () => number;
  now?: () => number;
}

export interface BackfillResult {
  /** 0: everything read was applied (or already there); 1: something failed or the run stopped. */
  exitCode: 0 | 1;
  summary: BackfillSummary;
  /** The summary as printed. */
  report: string;
}

/**
 * A backfill (ingest.md §3): reads the source in order, sends it to the service's HTTP ingest in batches
 * of one type (so the 202 counts are per type), one batch at a time (so the order holds), and prints a
 * summary. Never throws for what the operator can fix (an unreachable URL, a refused token, a missing
 * file): the run stops, and the summary says why and names the URL or file.
 */
export async function runBackfill(options: BackfillOptions, io: BackfillIo): Promise<BackfillResult> {
  const now = io.now ?? Date.now;
  const started = now();
  const counter = new SummaryCounter(options.dryRun);
  const stopAll = new AbortController();
  const lines = () => lineProgress(io.err, options.dryRun, io.progressIntervalMs ?? 5000, now);
  const progress: BackfillProgress = io.tty ? await barProgress(io.tty, options.dryRun, lines) : lines();
  const deps: HttpDeps = {
    fetch: io.fetch ?? fetch,
    sleep: io.sleep ?? sleep,
    random: io.random ?? Math.random,
    onRetry: (n: RetryNotice) =>
      progress.note(`retrying ${n.url} in ${(n.delayMs / 1000).toFixed(1)} s (${n.reason}; attempt ${n.attempt} failed)`),
  };
  const retry: RetryOptions = { retries: options.retries, timeoutMs: options.timeoutMs };
  const target = new IngestTarget(options.target, options.ingestToken, retry, deps, stopAll.signal);
  const api =
    options.source.kind === 'api' ? new TiledeskApi(options.source.url, options.source.token, options.concurrency, retry, deps) : null;
  const from = options.source.kind === 'file' ? options.source.path : options.source.url;

  let batch: Envelope[] = [];
  let batchType = '';
  const flush = async () => {
    if (batch.length === 0) return;
    const [type, envelopes] = [batchType, batch];
    batch = [];
    try {
      const outcome = await target.send(envelopes);
      counter.applied(type, outcome.sent, outcome);
      for (const [index, reason] of outcome.refused) {
        counter.failed(type, 1, `${type} ${idOf(envelopes[index]!, index)}: refused by the service: ${reason}`);
      }
    } catch (err) {
      // The batch never arrived: its events failed with the run.
      counter.failed(type, envelopes.length);
      throw err;
    } finally {
      progress.update(counter.totals());
    }
  };

  try {
    if (!options.dryRun) await target.check();
    const source: AsyncGenerator<SourceItem> =
      options.source.kind === 'file'
        ? readJsonlFile(options.source.path)
        : tiledeskItems(api!, { messages: options.messages, readAhead: 2 * options.concurrency });
    for await (const item of source) {
      if (!item.ok) {
        if (item.readFailure) counter.readFailed(item.problem);
        else {
          counter.read(item.type);
          counter.failed(item.type, 1, item.problem);
        }
      } else {
        counter.read(item.type);
        if (options.dryRun) io.out(JSON.stringify(item.envelope));
        else {
          if (batch.length > 0 && (item.type !== batchType || batch.length >= options.batch)) await flush();
          batchType = item.type;
          batch.push(item.envelope);
        }
      }
      progress.update(counter.totals());
    }
    await flush();
  } catch (err) {
    if (err instanceof FatalError) counter.stopped(err.message);
    else if (err instanceof AbortedError && api?.fatal) counter.stopped(api.fatal.message);
    else counter.stopped(`unexpected error: ${err instanceof Error ? err.message : String(err)}`);
    // What was read but not yet sent is lost with the run.
    if (batch.length > 0) counter.failed(batchType, batch.length);
  } finally {
    stopAll.abort();
    api?.abort();
    progress.update(counter.totals());
    progress.stop();
  }
  const summary = counter.summary(now() - started);
  const report = formatSummary(summary, from, options.target);
  io.err(`${report}\n`);
  return { exitCode: counter.ok ? 0 : 1, summary, report };
}

/** The document's id for a message (`_id`, else the request's `request_id`), else its place in the batch. */
function idOf(envelope: Envelope, index: number): string {
  const d = envelope.data;
  for (const v of [d._id, d.request_id]) if (typeof v === 'string' && v !== '') return v;
  return `#${index} of its batch`;
}
