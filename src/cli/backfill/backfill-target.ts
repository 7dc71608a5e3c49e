import { Envelope, FatalError } from './backfill-envelope';
import { HttpAnswer, HttpDeps, HttpUnreachableError, requestWithRetry, RetryOptions, summarizeBody } from './backfill-http';

/** What the service did with a batch: its 202 counts, and the events it refused one by one. */
export interface BatchOutcome {
  sent: number;
  accepted: number;
  duplicates: number;
  stale: number;
  /** Index in the batch → the service's reason. */
  refused: Map<number, string>;
}

/**
 * The service's HTTP ingest (ingest.md §2.1) as the backfill writes to it. A batch is validated whole
 * there, so one refused event (400, or 413 for its size, both naming its `index`) is taken out and the
 * rest sent again; a body over the service's limits (413 without an event) is sent in halves. 429, 503
 * and network errors are retried by backfill-http (a 503'd batch was not applied whole, and what was
 * applied comes back as duplicates or stale). Anything else ends the run: every later batch would fail
 * the same way.
 */
export class IngestTarget {
  readonly eventsUrl: string;

  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly retry: RetryOptions,
    private readonly deps: HttpDeps,
    private readonly signal?: AbortSignal,
  ) {
    this.eventsUrl = `${baseUrl}/v1/events`;
  }

  /** An empty batch: proves the service answers and takes the token before anything is read. */
  async check(): Promise<void> {
    const answer = await this.post([]);
    if (answer.status !== 202) throw this.unexpected(answer);
  }

  async send(batch: Envelope[]): Promise<BatchOutcome> {
    const outcome: BatchOutcome = { sent: 0, accepted: 0, duplicates: 0, stale: 0, refused: new Map() };
    await this.sendPart(
      batch.map((envelope, index) => ({ envelope, index })),
      outcome,
    );
    return outcome;
  }

  private async sendPart(part: Array<{ envelope: Envelope; index: number }>, outcome: BatchOutcome): Promise<void> {
    let pending = part;
    while (pending.length > 0) {
      const answer = await this.post(pending.map((p) => p.envelope));
      if (answer.status === 202) {
        const body = answer.json as { accepted?: unknown; duplicates?: unknown; stale?: unknown } | undefined;
        outcome.sent += pending.length;
        outcome.accepted += count(body?.accepted);
        outcome.duplicates += count(body?.duplicates);
        outcome.stale += count(body?.stale);
        return;
      }
      if (answer.status !== 400 && answer.status !== 413) throw this.unexpected(answer);
      const error = (answer.json as { error?: { index?: unknown; field?: unknown; message?: unknown } } | undefined)?.error;
      // A 413 names an event by index *and* field (its `data`); a batch over INGEST_MAX_BATCH has an index but no field.
      const index = answer.status === 400 || typeof error?.field === 'string' ? error?.index : undefined;
      const reason = typeof error?.message === 'string' ? error.message.replace(/^event \d+( \([^)]*\))?: /, '') : `HTTP ${answer.status}`;
      if (typeof index === 'number' && Number.isInteger(index) && index >= 0 && index < pending.length) {
        // The service names the event it refused: the others were not applied, send them again without it.
        outcome.refused.set(pending[index]!.index, `HTTP ${answer.status}: ${reason}`);
        pending = pending.filter((_, i) => i !== index);
        continue;
      }
      if (answer.status === 413 && pending.length > 1) {
        // Too large as a whole (INGEST_MAX_BATCH or INGEST_MAX_BODY_BYTES below what --batch assumed).
        const half = Math.ceil(pending.length / 2);
        await this.sendPart(pending.slice(0, half), outcome);
        await this.sendPart(pending.slice(half), outcome);
        return;
      }
      for (const p of pending) outcome.refused.set(p.index, `HTTP ${answer.status}: ${reason}`);
      return;
    }
  }

  private async post(body: Envelope[]): Promise<HttpAnswer> {
    try {
      return await requestWithRetry(
        {
          method: 'POST',
          url: this.eventsUrl,
          headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        },
        this.retry,
        this.deps,
        this.signal,
      );
    } catch (err) {
      if (err instanceof HttpUnreachableError) {
        throw new FatalError(
          err.status === undefined
            ? `cannot reach the realtime service at ${this.eventsUrl}: ${err.reason} (after ${err.attempts} attempts)`
            : `the realtime service at ${this.eventsUrl} still answered ${err.reason} after ${err.attempts} attempts`,
        );
      }
      throw err;
    }
  }

  private unexpected(answer: HttpAnswer): FatalError {
    const detail = summarizeBody(answer.json, answer.text);
    if (answer.status === 401) {
      return new FatalError(
        `the realtime service at ${this.eventsUrl} refused the ingest token (HTTP 401${detail}): check --ingest-token / INGEST_TOKEN`,
      );
    }
    return new FatalError(`POST ${this.eventsUrl} answered HTTP ${answer.status}${detail}: is --target the realtime service?`);
  }
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
