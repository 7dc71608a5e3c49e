import amqp, { AmqpConnectionManager, ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { ServiceMetrics } from '../../ops/service-metrics';
import { IngestValidationError, eventTypeOf } from '../event-validation';
import { IngestPipeline, isEngineOutage } from '../ingest-pipeline.service';

/** Tiledesk's realtime fan-out exchange: declared `fanout`, not durable, exactly as Tiledesk declares it. */
export const TILEDESK_EXCHANGE = 'ws';

export interface AmqpConsumerOptions {
  url: string;
  /** AMQP_QUEUE: the durable queue every replica consumes (competing consumers). */
  queue: string;
  /** AMQP_PREFETCH: messages a replica holds unacknowledged at once. */
  prefetch: number;
}

/** Reconnect delays: 1 s, doubling up to 30 s while the broker stays away; back to 1 s once connected. */
const RECONNECT_MIN_S = 1;
const RECONNECT_MAX_S = 30;

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;
/** Attempts at a message that fails for a reason other than an outage before it is rejected. */
const MAX_ATTEMPTS = 5;

/**
 * The AMQP transport (ingest.md §2.3): Tiledesk started with QUEUE_ENABLED=true publishes every realtime change to
 * the fanout exchange `ws` with the change's routing key (`request_create`, `request_update`, `message_create`,
 * `project_user_update`, `faqbot_update`) and the document's JSON as body. This binds a durable queue to it, and all
 * replicas consume that queue as competing consumers with a bounded prefetch. A message is acknowledged only after
 * the ingest pipeline applied and published it; one that can never apply (not JSON, an unknown key, an invalid
 * document) is rejected without requeue and logged with the reason, so it never blocks the queue. While Redis is away
 * a message is retried in place (it is not a bad message). The connection manager reconnects when the broker goes
 * away and sets the channel up again; whatever was unacknowledged then is delivered again, and applies as a duplicate
 * or a stale version (the pipeline is idempotent).
 */
export class AmqpConsumer {
  private connection: AmqpConnectionManager | null = null;
  private channel: ChannelWrapper | null = null;
  private consuming = false;
  private stopping = false;
  /** The channel and consumer of the current connection, to cancel on stop. */
  private current: { ch: Channel; tag: string } | null = null;
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly opts: AmqpConsumerOptions,
    private readonly pipeline: IngestPipeline,
    private readonly log: Logger,
    private readonly metrics: ServiceMetrics,
  ) {}

  /** Connected to the broker and consuming the queue (the `amqp` readiness check). */
  get healthy(): boolean {
    return this.consuming && (this.connection?.isConnected() ?? false);
  }

  start(): void {
    if (this.connection) return;
    const connection = amqp.connect([this.opts.url], { heartbeatIntervalInSeconds: 10, reconnectTimeInSeconds: RECONNECT_MIN_S });
    this.connection = connection;
    const backOff = () => {
      connection.reconnectTimeInSeconds = Math.min(RECONNECT_MAX_S, connection.reconnectTimeInSeconds * 2);
    };
    connection.on('connect', () => {
      connection.reconnectTimeInSeconds = RECONNECT_MIN_S;
      this.log.info({ queue: this.opts.queue }, 'amqp connected');
    });
    connection.on('disconnect', ({ err }: { err?: Error }) => {
      this.consuming = false;
      if (!this.stopping)
        this.log.warn({ err: err?.message, retryInS: connection.reconnectTimeInSeconds }, 'amqp connection lost; reconnecting');
      backOff();
    });
    connection.on('connectFailed', ({ err }: { err?: Error }) => {
      if (!this.stopping)
        this.log.warn({ err: err?.message, retryInS: connection.reconnectTimeInSeconds }, 'amqp connection failed; retrying');
      backOff();
    });
    this.channel = connection.createChannel({ json: false, setup: (ch: Channel) => this.setup(ch) });
    // The wrapper reports a setup that failed (a broker refusing the declarations) here; it retries on reconnect.
    this.channel.on('error', (err: Error) => this.log.error({ err: err.message }, 'amqp channel error'));
  }

  /** Stops taking messages, lets the ones in hand finish (acknowledged or requeued), then closes the connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.consuming = false;
    const current = this.current;
    if (current) await current.ch.cancel(current.tag).catch(() => undefined);
    await Promise.allSettled([...this.inflight]);
    await this.channel?.close().catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
  }

  /** Declared on every (re)connect: either side may start first, and a broker that lost them gets them back. */
  private async setup(ch: Channel): Promise<void> {
    await ch.assertExchange(TILEDESK_EXCHANGE, 'fanout', { durable: false });
    await ch.assertQueue(this.opts.queue, { durable: true });
    await ch.bindQueue(this.opts.queue, TILEDESK_EXCHANGE, '');
    await ch.prefetch(this.opts.prefetch);
    // Messages in hand when their channel closes go back to the queue: their retries stop (see handle).
    let open = true;
    ch.once('close', () => (open = false));
    const { consumerTag } = await ch.consume(
      this.opts.queue,
      (msg) => {
        if (!msg) {
          // The broker cancelled the consumer (the queue was deleted, or moved on a failover) while the connection
          // stays up: reconnect, so that the queue is declared, bound and consumed again (the channel wrapper sets
          // a channel up only on a connect).
          this.consuming = false;
          this.log.warn({ queue: this.opts.queue }, 'amqp consumer cancelled by the broker; setting it up again');
          if (!this.stopping) this.connection?.reconnect();
          return;
        }
        const done = this.handle(ch, msg, () => open).catch((err: unknown) => {
          // A bug must cost this message, never the process or a prefetch slot.
          this.log.error({ err, routingKey: msg.fields.routingKey }, 'amqp message handling failed; rejected');
          settle(() => ch.nack(msg, false, false));
        });
        this.inflight.add(done);
        void done.finally(() => this.inflight.delete(done));
      },
      { noAck: false },
    );
    this.current = { ch, tag: consumerTag };
    this.consuming = true;
  }

  /** `open`: false once the message's channel closed (the broker has put the message back in the queue). */
  private async handle(ch: Channel, msg: ConsumeMessage, open: () => boolean): Promise<void> {
    const key = msg.fields.routingKey;
    let body: unknown;
    try {
      body = JSON.parse(msg.content.toString('utf8'));
    } catch {
      this.metrics.eventsIngested.inc({ transport: 'amqp', type: eventTypeOf(key) ?? 'unknown', outcome: 'invalid' });
      this.reject(ch, msg, key, 'the body is not JSON');
      return;
    }
    let events;
    try {
      events = this.pipeline.validate([{ type: key, data: body }], 'amqp');
    } catch (err) {
      if (err instanceof IngestValidationError) {
        this.reject(ch, msg, key, err.message);
        return;
      }
      throw err;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.pipeline.ingest(events, Date.now(), 'amqp');
        settle(() => ch.ack(msg));
        return;
      } catch (err) {
        if (!open()) return; // redelivered, maybe to another replica: this loop must not go on beside it
        if (this.stopping || (!isEngineOutage(err) && attempt >= MAX_ATTEMPTS)) {
          if (this.stopping) {
            // Back in the queue for a replica that stays (or for this one after its restart).
            settle(() => ch.nack(msg, false, true));
          } else {
            this.log.error({ err, routingKey: key }, 'amqp message could not be applied; rejected');
            settle(() => ch.nack(msg, false, false));
          }
          return;
        }
        await sleep(Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  private reject(ch: Channel, msg: ConsumeMessage, routingKey: string, reason: string): void {
    // The reason, the key and where it sits in the queue; never the body (message texts stay out of the log).
    this.log.warn({ routingKey, reason, deliveryTag: msg.fields.deliveryTag }, 'amqp message rejected');
    settle(() => ch.nack(msg, false, false));
  }
}

/** An ack or nack on a channel that closed meanwhile throws: the broker delivers the message again anyway. */
function settle(fn: () => void): void {
  try {
    fn();
  } catch {
    // redelivered after the reconnect
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
