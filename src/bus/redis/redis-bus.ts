import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import { Envelope } from '../../domain/changes';
import { RedisClient, RedisConnections } from '../../engine/redis-connections';
import { Bus, EnvelopeHandler } from '../bus';
import { keySlot } from './key-slot';
import { projectChannel } from './project-channel';

/** A join or publish that could not reach Redis (it is down or the connection dropped meanwhile). */
export class BusUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusUnavailableError';
  }
}

/** The three pub/sub commands, plain (single Redis) or sharded (cluster). */
interface PubSubCommands {
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  publish(channel: string, text: string): Promise<unknown>;
}

interface ChannelState {
  readonly projectId: string;
  readonly channel: string;
  /** Outstanding joins; each is matched by one leave, whether it resolved or rejected. */
  joins: number;
  /** Redis confirmed the subscription on the live connection, and no unsubscribe has been sent since. */
  subscribed: boolean;
  /** Redis may hold a subscription this bus has not confirmed (a command cut by an outage, an auto-resubscribe). */
  dirty: boolean;
  /** Joined, but the subscription was lost or could not be made: envelopes may be missed until it is confirmed. */
  lost: boolean;
  /** The subscribe every join made meanwhile waits for (one command for all of them). */
  subscribing: Promise<void> | null;
  /** Subscribe and unsubscribe commands of one channel run one at a time, in the order they were decided. */
  tail: Promise<void>;
  /** Commands queued or running. */
  ops: number;
}

const noop = (): void => undefined;

/**
 * The bus over Redis pub/sub: one channel per project (`projectChannel`), SUBSCRIBE/PUBLISH on a single Redis and
 * SSUBSCRIBE/SPUBLISH on a cluster, so a project's traffic stays on the shard that holds its keys.
 *
 * A channel is subscribed while at least one join is not yet left. Every decision is taken when its command runs,
 * from the join count at that moment, so a join racing a pending unsubscribe ends subscribed and a leave racing a
 * pending subscribe ends unsubscribed. Messages are handed over from the single subscriber connection (one per
 * shard on a cluster) in the order Redis delivers them, and only for channels joined at that moment.
 *
 * Outages: commands fail fast while the subscriber connection is down (join() rejects). ioredis re-subscribes by
 * itself after a reconnect (autoResubscribe on a single Redis, the sharded subscriber group on a cluster); this
 * bus re-confirms every joined channel afterwards with its own (idempotent) subscribe, and `connected` stays false
 * until all are confirmed, so a true `connected` means no envelope of a joined project can be missed.
 */
export class RedisBus extends Bus {
  private readonly channels = new Map<string, ChannelState>();
  private readonly handlers: EnvelopeHandler[] = [];
  private readonly rejoinedHandlers: Array<(projectIds: readonly string[]) => void> = [];
  /** Projects whose lost subscription was confirmed again and not yet reported to the rejoined handlers. */
  private readonly rejoined = new Set<string>();
  /** Repairs in progress: they report their rejoined projects together when they end. */
  private repairing = 0;
  private readonly commands: PubSubCommands;
  private readonly subscriber: RedisClient;
  private readonly prefix: string;
  /** Rejects the commands in flight when the subscriber connection drops (they would wait for the reconnect). */
  private readonly cutOnClose = new Set<(err: Error) => void>();
  private outage = false;
  private lossCount = 0;

  constructor(
    connections: RedisConnections,
    private readonly log?: Logger,
  ) {
    super();
    this.prefix = connections.prefix;
    const sub = connections.subscriber;
    const cmd = connections.command;
    this.subscriber = sub;
    if (sub instanceof Cluster) {
      this.commands = {
        subscribe: (c) => sub.ssubscribe(c),
        unsubscribe: (c) => sub.sunsubscribe(c),
        publish: (c, t) => cmd.spublish(c, t),
      };
      sub.on('smessage', (channel: string, text: string) => this.receive(channel, text));
      // The sharded subscriber group names the node whose subscriber connection ended (the connection pool's
      // own '-node' events carry no node key). Its subscriptions are gone until ioredis re-subscribes them.
      sub.on('-node', (_redis: unknown, nodeKey?: unknown) => {
        if (typeof nodeKey === 'string') this.shardLost(nodeKey);
      });
      // Emitted after ioredis rebuilt its sharded subscribers (also when a node is still unreachable).
      sub.on('subscribersReady', () => this.repair());
    } else {
      this.commands = {
        subscribe: (c) => sub.subscribe(c),
        unsubscribe: (c) => sub.unsubscribe(c),
        publish: (c, t) => cmd.publish(c, t),
      };
      sub.on('message', (channel: string, text: string) => this.receive(channel, text));
    }
    sub.on('close', () => this.connectionLost());
    // 'ready' is emitted after ioredis has re-sent its own re-subscriptions, so ours follow them on the wire.
    sub.on('ready', () => this.repair());
    // Reconnect attempts report here; without a listener ioredis prints each one to stderr.
    sub.on('error', (err: Error) => this.log?.debug({ err }, 'redis subscriber connection error'));
  }

  override get epoch(): number {
    return this.lossCount;
  }

  private markLost(s: ChannelState): void {
    s.lost = true;
    this.lossCount++;
  }

  get connected(): boolean {
    if (this.subscriber.status !== 'ready') return false;
    for (const s of this.channels.values()) if (s.lost) return false;
    return true;
  }

  async publish(envelope: Envelope): Promise<void> {
    await this.commands.publish(projectChannel(this.prefix, envelope.projectId), JSON.stringify(envelope));
  }

  join(projectId: string): Promise<void> {
    const s = this.state(projectId);
    s.joins += 1;
    if (s.subscribing) return s.subscribing;
    if (s.subscribed) return Promise.resolve();
    return this.ensureSubscribed(s);
  }

  leave(projectId: string): void {
    const s = this.channels.get(projectChannel(this.prefix, projectId));
    if (!s || s.joins === 0) {
      this.log?.warn({ project: projectId }, 'bus leave without a matching join ignored');
      return;
    }
    s.joins -= 1;
    if (s.joins > 0) return;
    s.lost = false;
    this.enqueue(s, () => this.unsubscribeNow(s)).catch(noop);
  }

  onEnvelope(handler: EnvelopeHandler): void {
    this.handlers.push(handler);
  }

  /**
   * Called with the projects whose subscription had been lost (outage, shard restart, failed join not yet left)
   * once it is confirmed again. Envelopes published meanwhile were not delivered, so their subscribers need
   * fresh snapshots; the callback comes after the confirmation, so nothing published after the snapshots is
   * missed. Projects repaired together are reported in one call.
   */
  onRejoined(handler: (projectIds: readonly string[]) => void): void {
    this.rejoinedHandlers.push(handler);
  }

  // ---- channel state ------------------------------------------------------------------------------

  private state(projectId: string): ChannelState {
    const channel = projectChannel(this.prefix, projectId);
    let s = this.channels.get(channel);
    if (!s) {
      s = {
        projectId,
        channel,
        joins: 0,
        subscribed: false,
        dirty: false,
        lost: false,
        subscribing: null,
        tail: Promise.resolve(),
        ops: 0,
      };
      this.channels.set(channel, s);
    }
    return s;
  }

  /** Queues a subscribe that the joins made until it settles share. */
  private ensureSubscribed(s: ChannelState): Promise<void> {
    if (s.subscribing) return s.subscribing;
    const p = this.enqueue(s, () => this.subscribeNow(s));
    s.subscribing = p;
    const settled = (): void => {
      if (s.subscribing === p) s.subscribing = null;
    };
    p.then(settled, settled);
    return p;
  }

  private enqueue(s: ChannelState, command: () => Promise<void>): Promise<void> {
    s.ops += 1;
    const run = s.tail.then(command);
    s.tail = run.then(noop, noop).then(() => {
      s.ops -= 1;
      if (s.ops === 0 && s.joins === 0 && !s.subscribed && !s.dirty && this.channels.get(s.channel) === s) {
        this.channels.delete(s.channel);
      }
    });
    return run;
  }

  private async subscribeNow(s: ChannelState): Promise<void> {
    if (s.joins === 0 || s.subscribed) return; // every join left meanwhile, or already confirmed
    try {
      await this.send(() => this.commands.subscribe(s.channel));
      s.subscribed = true;
      s.dirty = false;
      if (s.lost) {
        s.lost = false;
        this.rejoined.add(s.projectId);
        if (this.repairing === 0) setImmediate(() => this.reportRejoined());
      }
    } catch (err) {
      s.dirty = true; // the command may still reach Redis after a reconnect
      if (s.joins > 0) this.markLost(s);
      throw err;
    }
  }

  private async unsubscribeNow(s: ChannelState): Promise<void> {
    if (s.joins > 0) return; // joined again meanwhile: stay subscribed
    if (!s.subscribed && !s.dirty) return;
    s.subscribed = false;
    try {
      await this.send(() => this.commands.unsubscribe(s.channel));
      s.dirty = false;
    } catch (err) {
      s.dirty = true; // unsubscribed again by repair() once Redis is back
      this.log?.debug({ err, project: s.projectId }, 'bus unsubscribe deferred until Redis is back');
    }
  }

  /** Sends one subscriber command, failing fast while the connection is down and when it drops meanwhile. */
  private send(command: () => Promise<unknown>): Promise<void> {
    if (this.subscriber.status !== 'ready') {
      return Promise.reject(new BusUnavailableError(`redis subscriber connection is ${this.subscriber.status}`));
    }
    return new Promise<void>((resolve, reject) => {
      const cut = (err: Error): void => reject(err);
      this.cutOnClose.add(cut);
      command().then(
        () => {
          this.cutOnClose.delete(cut);
          resolve();
        },
        (err: unknown) => {
          this.cutOnClose.delete(cut);
          reject(err instanceof Error ? err : new BusUnavailableError(String(err)));
        },
      );
    });
  }

  // ---- outages ------------------------------------------------------------------------------------

  private connectionLost(): void {
    const shuttingDown = this.subscriber.status === 'end' || this.subscriber.status === 'disconnecting';
    if (!this.outage && !shuttingDown) {
      this.outage = true;
      this.log?.warn({ channels: this.channels.size }, 'bus lost its redis connection; joined channels resume on reconnect');
    }
    for (const s of this.channels.values()) {
      if (s.subscribed) {
        s.subscribed = false;
        s.dirty = true;
      }
      if (s.joins > 0) this.markLost(s);
    }
    const cut = [...this.cutOnClose];
    this.cutOnClose.clear();
    for (const reject of cut) reject(new BusUnavailableError('redis subscriber connection lost'));
  }

  private shardLost(nodeKey: string): void {
    let n = 0;
    for (const s of this.channels.values()) {
      if (this.shardOf(s.channel) !== nodeKey) continue;
      if (s.subscribed) {
        s.subscribed = false;
        s.dirty = true;
      }
      if (s.joins > 0) {
        this.markLost(s);
        n += 1;
      }
    }
    if (n > 0) this.log?.warn({ node: nodeKey, channels: n }, 'bus lost a shard subscriber; its channels resume on reconnect');
  }

  /** Confirms every joined channel that is not confirmed, and drops subscriptions nobody needs any more. */
  private repair(): void {
    if (this.subscriber.status !== 'ready') return;
    const byShard = new Map<string, ChannelState[]>();
    for (const s of [...this.channels.values()]) {
      if (s.joins > 0 && !s.subscribed) {
        const shard = this.shardOf(s.channel);
        const group = byShard.get(shard);
        if (group) group.push(s);
        else byShard.set(shard, [s]);
      } else if (s.joins === 0 && s.dirty) {
        this.enqueue(s, () => this.unsubscribeNow(s)).catch(noop);
      }
    }
    const groups = [...byShard.values()];
    const channels = groups.reduce((n, g) => n + g.length, 0);
    this.repairing += 1;
    void Promise.all(groups.map((g) => this.resubscribe(g))).then((failures) => {
      this.repairing -= 1;
      const failed = failures.reduce((n, f) => n + f, 0);
      if (failed > 0) {
        this.log?.warn({ channels, failed }, 'bus could not resubscribe every channel yet');
      } else if (this.outage || channels > 0) {
        this.log?.info({ channels }, 'bus resubscribed its channels');
        this.outage = false;
      }
      this.reportRejoined();
    });
  }

  /**
   * Subscribes the channels of one shard again, one channel first: while the shard is still down only that one
   * command fails. (ioredis adds every channel it is asked to SSUBSCRIBE to its list for re-subscription before
   * sending it, failed or not, so retrying them all at every attempt would grow that list for as long as the
   * outage lasts.) Resolves with the number of channels still not subscribed.
   */
  private async resubscribe(group: ChannelState[]): Promise<number> {
    const [first, ...rest] = group;
    const scout = await this.ensureSubscribed(first!).then(
      () => true,
      () => false,
    );
    if (!scout) return group.length;
    const results = await Promise.allSettled(rest.map((s) => this.ensureSubscribed(s)));
    return results.filter((r) => r.status === 'rejected').length;
  }

  /** The master that owns a channel on a cluster ('' when unknown, and on a single Redis). */
  private shardOf(channel: string): string {
    return this.subscriber instanceof Cluster ? (this.subscriber.slots[keySlot(channel)]?.[0] ?? '') : '';
  }

  private reportRejoined(): void {
    if (this.rejoined.size === 0 || this.repairing > 0) return;
    const projectIds = [...this.rejoined];
    this.rejoined.clear();
    for (const handler of this.rejoinedHandlers) {
      try {
        handler(projectIds);
      } catch (err) {
        this.log?.error({ err, projects: projectIds.length }, 'bus rejoined handler failed');
      }
    }
  }

  // ---- delivery -----------------------------------------------------------------------------------

  private receive(channel: string, text: string): void {
    const s = this.channels.get(channel);
    if (!s || s.joins === 0) return; // left meanwhile: the unsubscribe may not have been confirmed yet
    const envelope = parseEnvelope(text, s.projectId);
    if (!envelope) {
      this.log?.warn({ project: s.projectId, bytes: text.length }, 'malformed bus message dropped');
      return;
    }
    for (const handler of this.handlers) {
      try {
        handler(envelope);
      } catch (err) {
        // Never let a handler's error reach ioredis: it would be thrown inside its reply parser.
        this.log?.error({ err, project: envelope.projectId, seq: envelope.seq }, 'envelope handler failed');
      }
    }
  }
}

/** The envelope in a channel message, or null when the text is not one of this project's envelopes. */
function parseEnvelope(text: string, projectId: string): Envelope | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const change = v.change as Record<string, unknown> | null | undefined;
  const ok =
    v.projectId === projectId &&
    Number.isSafeInteger(v.seq) &&
    typeof v.acceptedAt === 'number' &&
    typeof change === 'object' &&
    change !== null &&
    typeof change.type === 'string';
  return ok ? (value as Envelope) : null;
}
