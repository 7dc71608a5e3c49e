import { Inject, Injectable, Optional } from '@nestjs/common';
import { Bus } from '../bus/bus';
import { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { ReadModel } from '../store/read-model';
import { IngestValidationError, ValidatedEvent, eventTypeOf, validateEnvelope } from './event-validation';
import { KeyedSerializer, runBatch } from './keyed-serializer';
import { IngestTransport, ServiceMetrics } from '../ops/service-metrics';

/**
 * An apply that failed because the engine or the bus is away, not because of the event: the transports keep the
 * event and try again (the stream leaves it pending, AMQP retries it in place) instead of counting it against it.
 */
export function isEngineOutage(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return name === 'EngineUnavailableError' || name === 'BusUnavailableError';
}

export interface IngestResult {
  /** Events that changed the read model and were published. */
  accepted: number;
  /** Events already applied (same event id, or identical document version). */
  duplicates: number;
  /** Events older than the stored document: nothing changed, nothing published. */
  stale: number;
}

/**
 * The one pipeline behind every transport: validate the whole batch, then apply and publish each event, in
 * batch order within a project. Apply and publish run under a per-project lock, so envelopes leave in
 * sequence order.
 */
@Injectable()
export class IngestPipeline {
  private readonly serializer = new KeyedSerializer();

  constructor(
    private readonly store: ReadModel,
    private readonly bus: Bus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly metrics: ServiceMetrics = new ServiceMetrics(),
  ) {}

  /**
   * Validates a batch whole: throws IngestValidationError for the first bad event, before anything is applied.
   * The refused event counts once as `invalid` (under its type when it names a known one).
   */
  validate(batch: unknown[], transport: IngestTransport = 'http'): ValidatedEvent[] {
    try {
      return this.validateBatch(batch);
    } catch (err) {
      if (err instanceof IngestValidationError) {
        const raw = err.index !== null ? batch[err.index] : undefined;
        this.metrics.eventsIngested.inc({ transport, type: typeLabel(raw), outcome: 'invalid' });
      }
      throw err;
    }
  }

  private validateBatch(batch: unknown[]): ValidatedEvent[] {
    if (batch.length > this.config.ingest.maxBatch) {
      throw new IngestValidationError(
        'payload_too_large',
        `batch of ${batch.length} events is over INGEST_MAX_BATCH (${this.config.ingest.maxBatch})`,
        this.config.ingest.maxBatch,
        null,
      );
    }
    return batch.map((raw, i) => validateEnvelope(raw, i, { maxEventBytes: this.config.ingest.maxEventBytes }));
  }

  /**
   * Applies a batch: events of one project one after another in batch order, projects concurrently (their
   * Redis commands then share round trips). When an event cannot be applied (the engine is unavailable),
   * the later events of its project are not tried, so a retry of the batch never finds a project's events
   * applied out of order; the first failure is thrown once every started event has settled.
   */
  async ingest(events: ValidatedEvent[], acceptedAt = Date.now(), transport: IngestTransport = 'http'): Promise<IngestResult> {
    const outcomes = await runBatch(
      this.serializer,
      events,
      (e) => e.event.projectId,
      (e) => this.applyOne(e, acceptedAt),
    );
    const result: IngestResult = { accepted: 0, duplicates: 0, stale: 0 };
    outcomes.forEach((o, i) => {
      if (o.status === 'done') this.metrics.eventsIngested.inc({ transport, type: events[i]!.type, outcome: o.value });
    });
    for (const o of outcomes) {
      if (o.status === 'failed') throw o.error;
      if (o.status !== 'done') continue;
      if (o.value === 'applied') result.accepted++;
      else if (o.value === 'stale') result.stale++;
      else result.duplicates++;
    }
    return result;
  }

  private async applyOne(e: ValidatedEvent, acceptedAt: number): Promise<'applied' | 'stale' | 'duplicate'> {
    if (e.id !== undefined && (await this.store.isDuplicateEventId(e.id))) return 'duplicate';
    const r = await this.store.apply(e.event, acceptedAt);
    if (r.outcome === 'applied' && !r.published) await this.bus.publish(r.envelope);
    if (e.id !== undefined) await this.store.rememberEventId(e.id);
    return r.outcome;
  }
}

/** The event type label of a refused event: one of the ingest types (ingest.md §1), else `unknown`. */
function typeLabel(raw: unknown): string {
  const sent = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
  return (typeof sent === 'string' && eventTypeOf(sent)) || 'unknown';
}
