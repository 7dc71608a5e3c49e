import { addToIndex, removeFromIndex } from '../common/set-index';
import { RequestAudience, Scope } from '../access/member-access';
import { Envelope } from '../domain/changes';
import { Topic } from '../protocol/topic-grammar';
import { OutboundFrame } from './outbound-frame';
import type { ProjectView } from './project-view';

/**
 * A connection's place among a project's connections (MAX_CONN_PER_PROJECT), taken by its first subscription
 * there and shared by all of them; given back when the last one goes.
 */
export interface ProjectSeat {
  subscriptions: number;
  /** Resolves false when the project was full: every subscription waiting on it is refused. */
  readonly granted: Promise<boolean>;
}

/** What delivery needs of a client connection; the gateway's socket wrapper implements it. */
export interface FrameSink {
  readonly id: string;
  readonly userId: string;
  /** Topic string → subscription held by this connection. */
  readonly subscriptions: Map<string, Subscription>;
  /** Project id → this connection's place among the project's connections. */
  readonly seats: Map<string, ProjectSeat>;
  readonly closed: boolean;
  send(frame: OutboundFrame): void;
}

export class Subscription {
  /** Request scope of the member (T1/T2/T3); kept current by membership changes. */
  scope: Scope = 'participants';
  /** T2/T3: who could see the request at the last change this subscription saw. */
  audience: RequestAudience | null = null;
  /** While a snapshot is being read: envelopes that arrived meanwhile, replayed after it. */
  pending: Envelope[] | null = [];
  /**
   * The seq of its snapshot: envelopes at or below it are already in the snapshot. Over Redis an envelope
   * applied before the snapshot read can still be in flight when the subscription goes live.
   */
  snapshotSeq = 0;
  /**
   * A resync found nothing to answer with yet (the store restarted empty and is being reloaded, or was
   * unreachable): the subscription waits, buffering, and is read again after the project's next envelope
   * (at most every PARKED_RETRY_MS) or the next resync.
   */
  parked = false;
  /** The subscribe answering this subscription right now, if any. */
  inflight: Promise<void> | null = null;
  /** The connection's place in this project, shared with its other subscriptions there. */
  seat: ProjectSeat | null = null;

  constructor(
    readonly sink: FrameSink,
    readonly topicString: string,
    readonly topic: Topic,
  ) {}

  get projectId(): string {
    return this.topic.projectId;
  }

  get userId(): string {
    return this.sink.userId;
  }
}

/**
 * One project's subscriptions, indexed so that a change reaches its recipients without scanning the
 * others: exact topic strings; `/P/requests` split into members who see everything and members who
 * see requests they take part in (looked up by the request's participants and agents); and every
 * subscription by user, for membership changes.
 */
export class ProjectSubscriptions {
  readonly exact = new Map<string, Set<Subscription>>();
  readonly requestsAll = new Set<Subscription>();
  readonly requestsByUser = new Map<string, Set<Subscription>>();
  readonly byUser = new Map<string, Set<Subscription>>();
  readonly pending = new Set<Subscription>();
  size = 0;
  /** The last envelope seq seen for this project; a jump or a step back means frames were missed. */
  lastSeq: number | null = null;
  /** What subscribes can be answered with without the store (see ProjectView). */
  view: ProjectView | null = null;
  /** When the parked subscriptions were last read again, and the timer of the next round if one is due. */
  parkedRetriedAt = 0;
  parkedRetry: NodeJS.Timeout | null = null;

  /** Every live (not pending) subscription. */
  *live(): Iterable<Subscription> {
    for (const set of this.byUser.values()) for (const s of set) if (!s.pending) yield s;
  }

  /** Registers a subscription that is still reading its snapshot: it buffers envelopes. */
  addPending(sub: Subscription): void {
    this.pending.add(sub);
    addToIndex(this.byUser, sub.userId, sub);
    this.size++;
  }

  /** Moves a subscription from pending to live delivery. */
  activate(sub: Subscription): void {
    this.pending.delete(sub);
    this.index(sub);
  }

  /** Makes a live subscription buffer again (a re-subscribe re-reads its snapshot). */
  suspend(sub: Subscription): void {
    this.unindex(sub);
    sub.pending = [];
    this.pending.add(sub);
  }

  remove(sub: Subscription): void {
    if (!this.pending.delete(sub)) this.unindex(sub);
    removeFromIndex(this.byUser, sub.userId, sub);
    this.size--;
  }

  /** Re-files a `/P/requests` subscription after its member's scope changed. */
  rescope(sub: Subscription, scope: Scope): void {
    if (sub.pending) {
      sub.scope = scope;
      return;
    }
    this.unindex(sub);
    sub.scope = scope;
    this.index(sub);
  }

  private index(sub: Subscription): void {
    if (sub.topic.kind === 'requests') {
      if (sub.scope === 'all') this.requestsAll.add(sub);
      else addToIndex(this.requestsByUser, sub.userId, sub);
    } else {
      addToIndex(this.exact, sub.topicString, sub);
    }
  }

  private unindex(sub: Subscription): void {
    if (sub.topic.kind === 'requests') {
      this.requestsAll.delete(sub);
      removeFromIndex(this.requestsByUser, sub.userId, sub);
    } else {
      removeFromIndex(this.exact, sub.topicString, sub);
    }
  }
}
