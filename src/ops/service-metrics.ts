import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The service's Prometheus metrics (operations.md §4), served on METRICS_PORT at `/metrics`, off the public port.
 * Every label takes its values from a small fixed set (frame actions, event types, outcomes, refusal reasons):
 * never a user, project, request or connection id, so the number of series stays bounded whatever the traffic.
 */

/** Frame actions as counted; anything else a client sends counts as `invalid`. */
export const FRAME_ACTIONS_IN = ['subscribe', 'unsubscribe', 'heartbeat', 'me', 'publish', 'broadcast', 'invalid'] as const;
export const FRAME_ACTIONS_OUT = ['publish', 'heartbeat', 'me', 'error'] as const;
export const INGEST_TRANSPORTS = ['http', 'stream', 'amqp', 'demo'] as const;
export const INGEST_OUTCOMES = ['applied', 'stale', 'duplicate', 'invalid'] as const;
/** Why a handshake was refused (the HTTP answer's code, or `not_found` for another path). */
export const HANDSHAKE_REFUSALS = [
  'not_found',
  'draining',
  'tls_required',
  'unauthorized',
  'rate_limited',
  'too_many_connections',
  'header_too_large',
  'unavailable',
  'bad_request',
] as const;
/** The limits of operations.md §3, by the setting that names them. */
export const LIMITS = [
  'RATE_CONN_PER_USER_PER_MIN',
  'RATE_CONN_PER_IP_PER_MIN',
  'MAX_CONN_PER_USER',
  'MAX_CONN_PER_PROJECT',
  'RATE_FRAMES_PER_S',
  'MAX_SUBSCRIPTIONS_PER_CONN',
  'INGEST_RATE_PER_S',
  'API_RATE_PER_S',
  'WS_MAX_PAYLOAD_BYTES',
] as const;
export const REDIS_CONNECTIONS = ['command', 'subscriber', 'stream'] as const;

export type FrameActionIn = (typeof FRAME_ACTIONS_IN)[number];
export type FrameActionOut = (typeof FRAME_ACTIONS_OUT)[number];
export type IngestTransport = (typeof INGEST_TRANSPORTS)[number];
export type IngestOutcome = (typeof INGEST_OUTCOMES)[number];
export type HandshakeRefusal = (typeof HANDSHAKE_REFUSALS)[number];
export type LimitName = (typeof LIMITS)[number];
export type RedisConnectionName = (typeof REDIS_CONNECTIONS)[number];

export class ServiceMetrics {
  readonly registry = new Registry();

  private readonly sources: { connections: () => number; subscriptions: () => number; draining: () => boolean } = {
    connections: () => 0,
    subscriptions: () => 0,
    draining: () => false,
  };

  readonly connections: Gauge = new Gauge({
    name: 'realtime_connections_open',
    help: 'Open WebSocket connections',
    registers: [this.registry],
    collect: () => this.connections.set(this.sources.connections()),
  });
  readonly subscriptions: Gauge = new Gauge({
    name: 'realtime_subscriptions',
    help: 'Subscriptions held by the open connections (live and answering)',
    registers: [this.registry],
    collect: () => this.subscriptions.set(this.sources.subscriptions()),
  });
  readonly framesIn = new Counter({
    name: 'realtime_frames_in_total',
    help: 'Client frames received, by action (invalid: not JSON, unknown action, binary)',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  readonly framesOut = new Counter({
    name: 'realtime_frames_out_total',
    help: 'Frames sent to clients, by action',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  readonly socketWrites = new Counter({
    name: 'realtime_socket_writes_total',
    help: 'Writes of outbound frames handed to the kernel: the frames one connection gets in one event-loop turn go in one write (frames out / writes = frames per system call)',
    registers: [this.registry],
  });
  readonly subscribeReads = new Counter({
    name: 'realtime_subscribe_reads_total',
    help: "Snapshots read for subscribes, by source: the store (Redis), or this replica's view of the project kept by envelopes",
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly eventsIngested = new Counter({
    name: 'realtime_events_ingested_total',
    help: 'Domain events ingested, by transport, event type and outcome',
    labelNames: ['transport', 'type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'realtime_delivery_latency_seconds',
    help: 'From an event accepted by ingest to its frame written to a client socket',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly handshakeRefusals = new Counter({
    name: 'realtime_handshake_refusals_total',
    help: 'WebSocket handshakes refused, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'realtime_auth_failures_total',
    help: 'Tokens refused at the handshake or by the HTTP API, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly limitRefusals = new Counter({
    name: 'realtime_limit_refusals_total',
    help: 'Refusals by a limit of operations.md §3, by the setting that names it',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly slowConsumerCloses = new Counter({
    name: 'realtime_slow_consumer_closes_total',
    help: 'Connections closed with 1013 because their unsent data passed WS_MAX_BUFFERED_BYTES',
    registers: [this.registry],
  });
  readonly redisReconnects = new Counter({
    name: 'realtime_redis_reconnects_total',
    help: 'Redis connections re-established after a loss, by connection',
    labelNames: ['connection'] as const,
    registers: [this.registry],
  });
  readonly guessMisses = new Counter({
    name: 'realtime_redis_guess_misses_total',
    help: "Redis commits planned on a value this replica's cache guessed wrong (another replica, the sweep or a wipe changed it): planned again on the values the commit answered",
    registers: [this.registry],
  });
  readonly commitRetries = new Counter({
    name: 'realtime_redis_commit_retries_total',
    help: "Redis commits retried because another replica changed the project's version first",
    registers: [this.registry],
  });
  readonly draining: Gauge = new Gauge({
    name: 'realtime_draining',
    help: '1 while this replica drains on SIGTERM, else 0',
    registers: [this.registry],
    collect: () => this.draining.set(this.sources.draining() ? 1 : 0),
  });

  /** A Redis connection is ready again after a loss; names outside the fixed set count as `command`. */
  redisReconnected(name: string): void {
    const connection = (REDIS_CONNECTIONS as readonly string[]).includes(name) ? name : 'command';
    this.redisReconnects.inc({ connection });
  }

  /**
   * Gauges read at scrape time from the parts that know them (the gateway's connections, the fan-out's
   * subscriptions, the drain state), so they can never drift from the truth.
   */
  observe(sources: { connections?: () => number; subscriptions?: () => number; draining?: () => boolean }): void {
    if (sources.connections) this.sources.connections = sources.connections;
    if (sources.subscriptions) this.sources.subscriptions = sources.subscriptions;
    if (sources.draining) this.sources.draining = sources.draining;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Every series of a fixed label set exists from the start (at 0), so rates and alerts see them before the first event.
    for (const a of FRAME_ACTIONS_IN) this.framesIn.inc({ action: a }, 0);
    for (const a of FRAME_ACTIONS_OUT) this.framesOut.inc({ action: a }, 0);
    for (const r of HANDSHAKE_REFUSALS) this.handshakeRefusals.inc({ reason: r }, 0);
    for (const l of LIMITS) this.limitRefusals.inc({ limit: l }, 0);
    for (const c of REDIS_CONNECTIONS) this.redisReconnects.inc({ connection: c }, 0);
  }
}
