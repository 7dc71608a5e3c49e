import { IngestEnvelope } from './tiledesk-documents';
import { TrafficSimulator } from './traffic-simulator';

/** Where the envelopes go: the real ingest pipeline in the demo. Answers like POST /v1/events. */
export type EnvelopeSink = (batch: IngestEnvelope[]) => Promise<{ accepted: number; duplicates: number; stale: number }>;

export interface TrafficStats {
  /** Envelopes handed to the sink. */
  sent: number;
  accepted: number;
  duplicates: number;
  stale: number;
  /** Envelopes of batches the sink refused (a simulator bug: it should never happen). */
  failed: number;
}

export interface TrafficDriverOptions {
  eventsPerSecond: number;
  /** A refused batch (or a simulator failure) during steady traffic; the driver keeps going. */
  onError: (err: unknown) => void;
}

/** Longest pause between two ticks, so that low rates still look lively. */
const MAX_TICK_MS = 250;
/** Shortest pause between two ticks, so that high rates are sent in batches rather than in a busy loop. */
const MIN_TICK_MS = 10;
/** Largest batch handed to the sink at once (well under INGEST_MAX_BATCH). */
const MAX_BATCH = 400;

/**
 * Paces a simulator at about `eventsPerSecond` envelopes per second and feeds them to the sink, one
 * batch per tick, never two batches at once (order matters: each update must follow the one before).
 */
export class TrafficDriver {
  private readonly counts: TrafficStats = { sent: 0, accepted: 0, duplicates: 0, stale: 0, failed: 0 };
  private readonly tickMs: number;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> = Promise.resolve();
  private running = false;
  private credit = 0;
  private lastTick = 0;

  constructor(
    private readonly simulator: TrafficSimulator,
    private readonly sink: EnvelopeSink,
    private readonly opts: TrafficDriverOptions,
  ) {
    if (!(opts.eventsPerSecond > 0)) throw new Error('eventsPerSecond must be a positive number');
    this.tickMs = Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(1000 / opts.eventsPerSecond)));
  }

  /** Sends the simulator's setup (and waits until it is applied), then starts the steady traffic. */
  async start(): Promise<void> {
    if (this.running) return;
    const setup = this.simulator.setup();
    this.counts.sent += setup.length;
    this.count(await this.sink(setup));
    this.running = true;
    this.lastTick = Date.now();
    this.schedule();
  }

  /** Stops the traffic and waits for the batch in flight. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  stats(): TrafficStats {
    return { ...this.counts };
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.tick()
        .catch((err: unknown) => this.opts.onError(err))
        .finally(() => this.schedule());
    }, this.tickMs);
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    // Credit grows with elapsed time; capped so that a stalled process does not answer with a burst.
    this.credit = Math.min(
      this.credit + ((now - this.lastTick) / 1000) * this.opts.eventsPerSecond,
      Math.max(1, this.opts.eventsPerSecond),
    );
    this.lastTick = now;
    const batch: IngestEnvelope[] = [];
    while (this.credit >= 1 && batch.length < MAX_BATCH) {
      const step = this.simulator.step();
      batch.push(...step);
      this.credit -= step.length;
    }
    if (batch.length === 0) return;
    this.counts.sent += batch.length;
    try {
      this.count(await this.sink(batch));
    } catch (err) {
      this.counts.failed += batch.length;
      this.opts.onError(err);
    }
  }

  private count(r: { accepted: number; duplicates: number; stale: number }): void {
    this.counts.accepted += r.accepted;
    this.counts.duplicates += r.duplicates;
    this.counts.stale += r.stale;
  }
}
