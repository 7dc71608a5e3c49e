import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { RedisClient, RedisConnections } from '../../engine/redis-connections';
import { IngestValidationError, ValidatedEvent } from '../event-validation';
import { IngestPipeline, isEngineOutage } from '../ingest-pipeline.service';
import { KeyedSerializer, runBatch } from '../keyed-serializer';
import { StreamEntry, fieldValue, flatRecord, numberOrNull, parseAutoClaim, parseReadGroup } from './stream-replies';

export interface RedisStreamConsumerOptions {
  /** Key prefix (REDIS_PREFIX); default: the connections' prefix. */
  prefix?: string;
  /** This replica's name in the consumer group; default `<hostname>-<pid>-<random>`. */
  consumerName?: string;
  /** Entries pending longer than this on another consumer are claimed (INGEST_CLAIM_IDLE_MS). */
  claimIdleMs?: number;
  /** Approximate length the stream is trimmed to (INGEST_STREAM_MAXLEN); also bounds the dead-letter stream. */
  streamMaxLen?: number;
  /** Longest wait of one XREADGROUP; default 2000. */
  blockMs?: number;
  /** Entries read (and claimed) per round trip; default 100. */
  batch?: number;
  /** Other consumers of the group with nothing pending and idle this long are removed from it; default 1 hour. */
  forgetIdleMs?: number;
}

export interface RedisStreamConsumerStatus {
  /** Between start() and stop(). */
  running: boolean;
  /** Running, the read connection is up, the consumer group exists and the last round trip succeeded. */
  healthy: boolean;
  consumer: string;
  stream: string;
  group: string;
  lastError: string | null;
  lastErrorAt: number | null;
  /** Entries this consumer acknowledged after the pipeline took them (applied, duplicate or stale). */
  applied: number;
  deadLettered: number;
  /** Entries taken over from other consumers (XAUTOCLAIM). */
  claimed: number;
  /** Group-wide, as of the last maintenance round (every claimIdleMs / 2); null until known. */
  pending: number | null;
  /** Entries not yet delivered to the group, as of the last maintenance round; null when Redis cannot tell. */
  lag: number | null;
}

/** An entry the pipeline could not apply: it stays pending and is retried. */
class EntryApplyError extends Error {
  constructor(
    readonly entryId: string,
    readonly failure: unknown,
  ) {
    super(`entry ${entryId}: ${messageOf(failure)}`);
  }
}

/** Attempts at an entry that fails for a reason other than an outage before it goes to the dead-letter stream. */
const MAX_APPLY_ATTEMPTS = 5;

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 2000;

/**
 * The Redis stream ingest transport (ingest.md §2.2). Every replica reads `<prefix>ingest` as one consumer
 * of the group `<prefix>realtime`: each entry goes through the ingest pipeline on one replica and is
 * acknowledged only once the pipeline has applied and published it. Entries the pipeline cannot apply stay
 * pending and are retried; entries that can never be applied (not JSON, invalid) are copied with the reason
 * to `<prefix>ingest:dead` and acknowledged. Entries left pending by a replica that died are claimed after
 * claimIdleMs. One loop does everything in order (read, apply, ack, claim, trim), so a batch is applied
 * sequentially and stop() only has to wait for that loop.
 */
export class RedisStreamConsumer {
  readonly stream: string;
  readonly deadStream: string;
  readonly group: string;
  readonly consumer: string;
  private readonly claimIdleMs: number;
  private readonly streamMaxLen: number;
  private readonly blockMs: number;
  private readonly batch: number;
  private readonly forgetIdleMs: number;
  private readonly maintenanceEveryMs: number;

  private reader: RedisClient | null = null;
  private loop: Promise<void> | null = null;
  private stopping = false;
  /** Entries whose apply failed for a reason other than an outage, with how often (dead-lettered at the limit). */
  private readonly applyFailures = new Map<string, number>();
  /** A batch's entries in lanes: one project's in stream order, projects side by side (see process). */
  private readonly lanes = new KeyedSerializer();
  /** Rejects when stop() is called: what a read in flight races against. */
  private stopped: Promise<never> = new Promise<never>(() => undefined);
  private stop$: (() => void) | null = null;
  private wake: (() => void) | null = null;
  private groupReady = false;
  /** Set after a failure (and at start): this consumer's own pending entries are read again from here. */
  private ownPendingFrom: string | null = '0';
  private claimCursor = '0-0';
  private nextMaintenanceAt = 0;
  private failures = 0;
  private waitingForRedis = false;
  private everConnected = false;
  private lastError: string | null = null;
  private lastErrorAt: number | null = null;
  private readonly counts = { applied: 0, deadLettered: 0, claimed: 0 };
  private groupInfo: { pending: number | null; lag: number | null } = { pending: null, lag: null };

  constructor(
    private readonly connections: RedisConnections,
    private readonly pipeline: IngestPipeline,
    options: RedisStreamConsumerOptions,
    private readonly log: Logger,
  ) {
    const prefix = options.prefix ?? connections.prefix;
    this.stream = `${prefix}ingest`;
    this.deadStream = `${prefix}ingest:dead`;
    this.group = `${prefix}realtime`;
    this.consumer = options.consumerName ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.claimIdleMs = options.claimIdleMs ?? connections.config.claimIdleMs;
    this.streamMaxLen = options.streamMaxLen ?? connections.config.streamMaxLen;
    this.blockMs = Math.max(1, options.blockMs ?? 2000);
    this.batch = Math.max(1, options.batch ?? 100);
    this.forgetIdleMs = options.forgetIdleMs ?? 3_600_000;
    this.maintenanceEveryMs = Math.max(10, Math.floor(this.claimIdleMs / 2));
  }

  get status(): RedisStreamConsumerStatus {
    const running = this.loop !== null && !this.stopping;
    return {
      running,
      healthy: running && this.groupReady && this.lastError === null && this.connections.commandReady && this.reader?.status === 'ready',
      consumer: this.consumer,
      stream: this.stream,
      group: this.group,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      ...this.counts,
      ...this.groupInfo,
    };
  }

  /** Starts consuming in the background; Redis being down is not an error here (the loop retries). */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    // The blocking read gets a connection of its own; stop() disconnects it, so a restart needs a new one.
    this.reader ??= this.connections.createExtra('stream');
    this.stopped = new Promise<never>((_, reject) => {
      this.stop$ = () => reject(new Error('stream consumer stopped'));
    });
    this.stopped.catch(() => undefined);
    this.ownPendingFrom = '0';
    this.nextMaintenanceAt = 0;
    this.log.info({ stream: this.stream, group: this.group, consumer: this.consumer }, 'stream ingest started');
    this.loop = this.run();
  }

  /** Ends the loop: interrupts a blocking read, lets the batch being applied finish, and resolves after. */
  async stop(): Promise<void> {
    const loop = this.loop;
    if (!loop) return;
    this.stopping = true;
    // A connected reader settles its read on disconnect (below); one that is reconnecting never would.
    if (this.reader && this.reader.status !== 'ready') this.stop$?.();
    this.wake?.();
    // A blocking XREADGROUP only returns when its connection goes away. Entries it was about to deliver
    // stay pending on this consumer and are claimed by another one after claimIdleMs.
    this.reader?.disconnect();
    this.reader = null;
    await loop;
    this.loop = null;
    this.log.info({ consumer: this.consumer }, 'stream ingest stopped');
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (!(await this.commandConnectionReady())) continue;
      try {
        await this.step();
        this.everConnected = true;
        if (this.failures > 0) this.log.info({ consumer: this.consumer, failures: this.failures }, 'stream ingest recovered');
        this.failures = 0;
        this.lastError = null;
      } catch (err) {
        if (this.stopping) break;
        this.onFailure(err);
        await this.sleep(Math.min(BACKOFF_MIN_MS * 2 ** (this.failures - 1), BACKOFF_MAX_MS));
      }
    }
  }

  /**
   * Commands fail fast while Redis is unreachable; rather than fail (and log) every round, the loop waits for
   * the connection, a blockMs at a time so that stop() and status stay responsive.
   */
  private async commandConnectionReady(): Promise<boolean> {
    const command = this.connections.command;
    if (isReady(command)) {
      this.waitingForRedis = false;
      return true;
    }
    if (!this.waitingForRedis && this.everConnected) {
      this.log.warn({ consumer: this.consumer, stream: this.stream }, 'Redis is unreachable; stream ingest waits for it');
    }
    this.waitingForRedis = true;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        command.off('ready', done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, this.blockMs);
      command.once('ready', done);
      this.wake = done;
    });
    return isReady(command);
  }

  private onFailure(err: unknown): void {
    this.failures++;
    this.lastError = messageOf(err);
    this.lastErrorAt = Date.now();
    // Whatever was read and not acknowledged is read again, in order, before new entries.
    this.ownPendingFrom = '0';
    if (/^NOGROUP/.test(this.lastError)) {
      // Redis came back empty (no persistence) or someone deleted the group: create it again.
      this.groupReady = false;
      this.log.warn({ stream: this.stream, group: this.group }, 'consumer group is missing; creating it again');
      return;
    }
    const fields =
      err instanceof EntryApplyError
        ? { consumer: this.consumer, entry: err.entryId, err: err.failure }
        : { consumer: this.consumer, err, failures: this.failures };
    const msg =
      err instanceof EntryApplyError
        ? 'stream entry could not be applied; it stays pending and is retried'
        : 'stream ingest failed; retrying with back-off';
    // One error line per outage, not one per retry.
    if (this.failures === 1) this.log.error(fields, msg);
    else this.log.debug(fields, msg);
  }

  /** One round: make sure the group exists, maintain when due, then read and apply one batch. */
  private async step(): Promise<void> {
    if (!this.groupReady) await this.ensureGroup();
    if (Date.now() >= this.nextMaintenanceAt) {
      await this.maintain();
      this.nextMaintenanceAt = Date.now() + this.maintenanceEveryMs;
    }
    if (this.stopping) return;
    if (this.ownPendingFrom !== null) {
      // Our own pending entries (ID other than `>`): they are returned at once, never blocking.
      const entries = await this.read(this.ownPendingFrom, 0);
      if (entries.length === 0) {
        this.ownPendingFrom = null;
        return;
      }
      this.ownPendingFrom = entries[entries.length - 1]!.id;
      await this.process(entries);
      return;
    }
    const block = Math.max(1, Math.min(this.blockMs, this.nextMaintenanceAt - Date.now()));
    await this.process(await this.read('>', block));
  }

  private async ensureGroup(): Promise<void> {
    try {
      // Start id 0, not $: entries written before the group existed (before the first replica ever started,
      // or while Redis was coming back empty and no replica had re-created the group yet) are applied too.
      await this.connections.command.xgroup('CREATE', this.stream, this.group, '0', 'MKSTREAM');
      this.log.info({ stream: this.stream, group: this.group }, 'consumer group created');
    } catch (err) {
      if (!/^BUSYGROUP/.test(messageOf(err))) throw err;
    }
    this.groupReady = true;
    this.claimCursor = '0-0';
  }

  private async read(from: string, blockMs: number): Promise<StreamEntry[]> {
    const reader = this.reader;
    if (!reader) throw new Error('stream consumer stopped');
    const command =
      from === '>'
        ? reader.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', this.batch, 'BLOCK', blockMs, 'STREAMS', this.stream, '>')
        : reader.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', this.batch, 'STREAMS', this.stream, from);
    // During an outage a blocking read waits in the reconnecting connection's queue and never settles, even on
    // disconnect(): stop() must not wait for it.
    const reply: unknown = await Promise.race([command, this.stopped]);
    return parseReadGroup(reply);
  }

  /**
   * Applies a batch: the entries of one project one after another in stream order, projects concurrently (their
   * Redis commands then share round trips), then acknowledges those that are done in one XACK. The first entry
   * of a project that cannot be applied ends that project's part of the batch: it and the project's later
   * entries stay pending and are read again, in order, before any new entry. The first failure is thrown once
   * every started entry has settled.
   */
  private async process(entries: StreamEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const prepared = entries.map((entry) => ({ id: entry.id, ...this.prepare(entry) }));
    const outcomes = await runBatch(
      this.lanes,
      prepared,
      (p) => p.lane,
      (p) => p.run(),
    );
    const done = prepared.filter((_, i) => outcomes[i]!.status === 'done').map((p) => p.id);
    if (done.length > 0) await this.connections.command.xack(this.stream, this.group, ...done);
    const failure = outcomes.find((o) => o.status === 'failed');
    if (failure) throw failure.error instanceof Error ? failure.error : new Error(String(failure.error));
  }

  /**
   * Reads an entry into what to do with it and the lane it runs in: its project, or a lane of its own for an
   * entry that goes to the dead-letter stream (no order to keep).
   */
  private prepare(entry: StreamEntry): { lane: string; run: () => Promise<void> } {
    const own = `\u0000${entry.id}`;
    const dead = (reason: string, raw: string | null, field?: string | null) => ({
      lane: own,
      run: () => this.deadLetter(entry.id, reason, raw, field),
    });
    if (entry.fields === null) return dead('entry was deleted from the stream (trimmed) before it was applied', null);
    const raw = fieldValue(entry.fields, 'event');
    if (raw === undefined) return dead('missing field "event"', null);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      return dead(`event is not JSON: ${messageOf(err)}`, raw);
    }
    let events: ValidatedEvent[];
    try {
      events = this.pipeline.validate([parsed], 'stream');
    } catch (err) {
      if (!(err instanceof IngestValidationError)) return { lane: own, run: () => this.failed(entry.id, raw, err) };
      // The pipeline numbers events in a batch; a stream entry is one event.
      return dead(err.message.replace(/^event 0\b/, 'event'), raw, err.field);
    }
    return { lane: events[0]!.event.projectId, run: () => this.apply(entry.id, raw, events) };
  }

  private async apply(id: string, raw: string, events: ValidatedEvent[]): Promise<void> {
    try {
      await this.pipeline.ingest(events, Date.now(), 'stream');
    } catch (err) {
      return this.failed(id, raw, err);
    }
    this.applyFailures.delete(id);
    this.counts.applied++;
  }

  /**
   * An entry could not be applied: it stays pending (throws) while the cause may pass; a cause that is not an
   * outage would fail the same way every time and hold up every entry of its project behind it, so after
   * MAX_APPLY_ATTEMPTS the entry goes to the dead-letter stream.
   */
  private async failed(id: string, raw: string, err: unknown): Promise<void> {
    if (isEngineOutage(err)) throw new EntryApplyError(id, err);
    const failures = (this.applyFailures.get(id) ?? 0) + 1;
    if (failures < MAX_APPLY_ATTEMPTS) {
      this.applyFailures.set(id, failures);
      throw new EntryApplyError(id, err);
    }
    this.applyFailures.delete(id);
    return this.deadLetter(id, `apply failed ${failures} times: ${messageOf(err)}`, raw);
  }

  /** Copies an entry that can never be applied, with the reason, to the dead-letter stream (then it is acked). */
  private async deadLetter(id: string, reason: string, raw: string | null, field?: string | null): Promise<void> {
    this.log.warn({ stream: this.stream, entry: id, reason }, 'stream entry moved to the dead-letter stream');
    const fields = ['id', id, 'reason', reason];
    if (raw !== null) fields.push('event', raw);
    if (field) fields.push('field', field);
    await this.connections.command.xadd(this.deadStream, 'MAXLEN', '~', this.streamMaxLen, '*', ...fields);
    this.counts.deadLettered++;
  }

  /** Every claimIdleMs / 2: take over entries of dead consumers, refresh the figures of the group, trim. */
  private async maintain(): Promise<void> {
    await this.claimAbandoned();
    if (this.stopping) return;
    const { lag } = await this.readGroupInfo();
    // Entries not yet delivered to the group are kept even past streamMaxLen: trimming them would lose them
    // with no trace. Delivered ones may go; one still pending then reaches the dead-letter stream when retried.
    const keep = Math.max(this.streamMaxLen, lag ?? 0);
    if (keep > this.streamMaxLen) {
      this.log.warn(
        { stream: this.stream, lag, streamMaxLen: this.streamMaxLen },
        'the consumer group is further behind than INGEST_STREAM_MAXLEN: the stream keeps its unread entries until it catches up',
      );
    }
    await this.connections.command.xtrim(this.stream, 'MAXLEN', '~', keep);
    await this.forgetIdleConsumers();
  }

  private async claimAbandoned(): Promise<void> {
    // Walks the whole pending list, a page per round trip; the cursor comes back to 0-0 at its end.
    do {
      const reply = parseAutoClaim(
        await this.connections.command.xautoclaim(
          this.stream,
          this.group,
          this.consumer,
          this.claimIdleMs,
          this.claimCursor,
          'COUNT',
          this.batch,
        ),
      );
      for (const id of reply.deleted) {
        // Redis already dropped these from the pending list: only the record of the loss is left to write.
        await this.deadLetter(id, 'entry was deleted from the stream (trimmed) before it was applied', null);
      }
      if (reply.entries.length > 0) {
        this.counts.claimed += reply.entries.length;
        this.log.info(
          { stream: this.stream, consumer: this.consumer, count: reply.entries.length, first: reply.entries[0]!.id },
          'claimed stream entries left pending by another consumer',
        );
        await this.process(reply.entries);
      }
      this.claimCursor = reply.cursor;
    } while (this.claimCursor !== '0-0' && !this.stopping);
  }

  private async readGroupInfo(): Promise<{ pending: number | null; lag: number | null }> {
    const groups: unknown = await this.connections.command.xinfo('GROUPS', this.stream);
    const mine = (Array.isArray(groups) ? groups : []).map(flatRecord).find((g) => g['name'] === this.group);
    // `lag` exists since Redis 7.0 and is null when Redis cannot tell (e.g. after XDEL in the unread part).
    this.groupInfo = mine ? { pending: numberOrNull(mine['pending']), lag: numberOrNull(mine['lag']) } : { pending: null, lag: null };
    return this.groupInfo;
  }

  /** Every start adds a consumer name (they are random): forget those of replicas long gone. */
  private async forgetIdleConsumers(): Promise<void> {
    const consumers: unknown = await this.connections.command.xinfo('CONSUMERS', this.stream, this.group);
    for (const c of (Array.isArray(consumers) ? consumers : []).map(flatRecord)) {
      const name = String(c['name']);
      const idle = numberOrNull(c['idle']);
      if (name === this.consumer || numberOrNull(c['pending']) !== 0 || idle === null || idle < this.forgetIdleMs) continue;
      await this.connections.command.xgroup('DELCONSUMER', this.stream, this.group, name);
      this.log.info({ stream: this.stream, forgotten: name, idleMs: idle }, 'removed an idle consumer with nothing pending');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

function isReady(client: RedisClient): boolean {
  return client.status === 'ready';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
