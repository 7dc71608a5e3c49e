import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { ProjectMetrics } from '../analytics/metrics-shape';
import { decideSubscribe } from '../access/subscribe-decision';
import { Bus } from '../bus/bus';
import { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { Change, Envelope } from '../domain/changes';
import { FrameErrorCode, errorFrame, publishFrame } from '../protocol/frames';
import { Topic, parseTopic, topics } from '../protocol/topic-grammar';
import { ConnectionLimits } from '../limits/connection-limits';
import { ReadModel, TopicRead } from '../store/read-model';
import { LOGGER } from '../ops/logger';
import { ServiceMetrics } from '../ops/service-metrics';
import { MetricsFeed } from './metrics-feed';
import { OutboundFrame } from './outbound-frame';
import { Delivery } from './delivery';
import { FrameCache } from './frame-cache';
import { ProjectView } from './project-view';
import { FrameSink, ProjectSeat, ProjectSubscriptions, Subscription } from './subscription-registry';

/** The shortest time between two reads of a project's parked subscriptions (see retryParked). */
const PARKED_RETRY_MS = 200;

/**
 * Local subscriptions and delivery. Subscribes are answered without a gap: the subscription buffers
 * envelopes while its snapshot is read, then replays those newer than the snapshot. Every decision of
 * who receives what is taken here from the envelope alone, per subscription, by the same code for live
 * delivery and for replay.
 */
@Injectable()
export class FanoutService {
  private readonly projects = new Map<string, ProjectSubscriptions>();
  /**
   * Snapshot frames of shared snapshots, by snapshot and topic. The store hands the same frozen list to every
   * reader of one project state (Redis: see-all `/P/requests` lists per seq), so the subscribers of a
   * reconnect storm get one frame built once instead of one JSON.stringify of the list each.
   */
  private readonly sharedSnapshotFrames = new WeakMap<object, Map<string, OutboundFrame>>();

  private readonly tooManySubscriptions: string;
  private readonly maxSubscriptions: number;
  private readonly metricsFeed: MetricsFeed;
  private readonly historyRequests: number;
  private readonly delivery = new Delivery(
    (sub, code, message) => this.end(sub, code, message),
    (sub, scope) => this.project(sub.projectId).rescope(sub, scope),
  );

  constructor(
    private readonly store: ReadModel,
    private readonly bus: Bus,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly limits: ConnectionLimits,
    @Inject(APP_CONFIG) config: AppConfig,
    @Optional() private readonly metrics: ServiceMetrics = new ServiceMetrics(),
  ) {
    metrics.observe({ subscriptions: () => this.subscriptionCount });
    bus.onEnvelope((env) => this.onEnvelope(env));
    this.metricsFeed = new MetricsFeed(store, config.metrics.intervalMs, log, (projectId) => this.metricsWatchers(projectId));
    this.maxSubscriptions = config.limits.maxSubscriptionsPerConn;
    this.historyRequests = config.history.requests;
    this.tooManySubscriptions = `at most ${this.maxSubscriptions} subscriptions per connection (MAX_SUBSCRIPTIONS_PER_CONN): unsubscribe from one first`;
  }

  /** Number of live and pending subscriptions on this replica. */
  get subscriptionCount(): number {
    let n = 0;
    for (const p of this.projects.values()) n += p.size;
    return n;
  }

  async subscribe(sink: FrameSink, topicString: string): Promise<void> {
    // A connection that ended (possibly while this subscribe waited) must not register anything.
    if (sink.closed) return;
    const inflight = sink.subscriptions.get(topicString)?.inflight;
    if (inflight) {
      // The same topic is being answered already: answer this one after it, with its own snapshot.
      await inflight;
      return this.subscribe(sink, topicString);
    }
    const topic = parseTopic(topicString);
    if (!topic) {
      sink.send(OutboundFrame.of(errorFrame(topicString, 'unknown_topic', 'no topic has this shape')));
      return;
    }
    let sub = sink.subscriptions.get(topicString);
    const isNew = !sub;
    if (isNew && sink.subscriptions.size >= this.maxSubscriptions) {
      this.metrics.limitRefusals.inc({ limit: 'MAX_SUBSCRIPTIONS_PER_CONN' });
      sink.send(OutboundFrame.of(errorFrame(topicString, 'too_many_subscriptions', this.tooManySubscriptions)));
      return;
    }
    const project = this.project(topic.projectId);
    if (sub) {
      if (!sub.pending) project.suspend(sub);
    } else {
      sub = new Subscription(sink, topicString, topic);
      sink.subscriptions.set(topicString, sub);
      project.addPending(sub);
      this.takeSeat(sub);
    }
    const held = sub;
    const answer = this.answer(sink, held, project, isNew);
    held.inflight = answer;
    try {
      await answer;
    } finally {
      if (held.inflight === answer) held.inflight = null;
    }
  }

  private async answer(sink: FrameSink, held: Subscription, project: ProjectSubscriptions, join: boolean, resync = false): Promise<void> {
    const { topic, topicString } = held;
    let answered = false;
    // Asked for when the subscription was registered, answered by now or soon: it never delays the read.
    const seat = held.seat?.granted;
    try {
      // Joined before the read, so that no envelope applied after the read can be missed.
      if (join) await this.bus.join(topic.projectId);
      const read = this.viewRead(project, topic, sink.userId, resync) ?? (await this.readAndLearn(project, topic, sink.userId));
      const seated = seat === undefined || (await seat);
      if (sink.subscriptions.get(topicString) !== held) return; // unsubscribed or closed meanwhile
      if (held.pending === null) return; // a concurrent re-subscribe already answered
      const decision = decideSubscribe(topic, sink.userId, read);
      if (!decision.ok && resync && (read.seq === 0 || read.seq < held.snapshotSeq)) {
        // The store went back (restarted empty, reload in progress): what this subscription was granted on
        // may come back with the reload, so it waits instead of being refused.
        this.park(held, project);
        return;
      }
      if (!decision.ok) {
        this.log.info(
          { conn: sink.id, user: sink.userId, project: topic.projectId, topic: topicString, code: decision.code },
          'subscription refused',
        );
        this.end(held, decision.code, decision.message);
        return;
      }
      // Only after authorization: a stranger learns nothing of how full a project is.
      if (!seated) {
        this.log.info(
          { conn: sink.id, user: sink.userId, project: topic.projectId, topic: topicString },
          'subscription refused: project full',
        );
        this.metrics.limitRefusals.inc({ limit: 'MAX_CONN_PER_PROJECT' });
        this.end(held, 'too_many_connections', `this project has the most connections allowed (MAX_CONN_PER_PROJECT); try again later`);
        return;
      }
      held.parked = false; // a client's own re-subscribe can answer a parked subscription
      held.snapshotSeq = read.seq;
      held.scope = decision.viewer.scope;
      held.audience = decision.audience;
      sink.send(this.snapshotFrame(topicString, decision.snapshot));
      const buffered = held.pending;
      held.pending = null;
      project.activate(held);
      answered = true;
      if (topic.kind === 'metrics') this.metricsFeed.subscribed(topic.projectId, decision.snapshot as ProjectMetrics | null);
      for (const env of buffered) {
        if (sink.subscriptions.get(topicString) === held) this.delivery.deliver(env, [held], new FrameCache());
      }
    } catch (err) {
      // Answered meanwhile by a concurrent read (a client's re-subscribe): this read's failure no longer matters.
      if (!answered && held.pending === null) return;
      if (resync && sink.subscriptions.get(topicString) === held && held.pending !== null) {
        this.park(held, project); // the store is unreachable again
        return;
      }
      this.log.error({ err, conn: sink.id, topic: topicString }, 'subscribe failed');
      if (sink.subscriptions.get(topicString) === held) this.end(held, 'internal', 'the subscription could not be answered; try again');
    }
  }

  /**
   * A subscription the store could not answer yet waits, to be read again after the project's next envelope or
   * resync. What it buffered is older than that next read, so it is not kept; but if envelopes arrived while
   * this read was out (a reload in full swing), the store has moved on already and it is read again soon.
   */
  private park(held: Subscription, project: ProjectSubscriptions): void {
    const movedOn = (held.pending?.length ?? 0) > 0;
    held.parked = true;
    held.pending = [];
    held.inflight = null; // this read is over: a retry may start
    if (movedOn) this.retryParked(project);
  }

  /**
   * The project's view while it stands: the bus has missed nothing since the view was started (a lost connection
   * or subscription moves the bus epoch, reconnected or not). One that no longer stands is dropped.
   */
  private standingView(project: ProjectSubscriptions): ProjectView | null {
    if (project.view && project.view.epoch !== this.bus.epoch) project.view = null;
    return project.view;
  }

  /**
   * The read a subscribe gets from the project's view on this replica, when the view can answer it. A resync
   * always reads the store (it happens because something may have been missed).
   */
  private viewRead(project: ProjectSubscriptions, topic: Topic, userId: string, resync: boolean): TopicRead | undefined {
    const read = resync ? undefined : this.standingView(project)?.read(topic, userId);
    if (read) this.metrics.subscribeReads.inc({ source: 'replica' });
    return read;
  }

  /** Reads the store, and keeps in the project's view what the read tells, if it was taken where the view stands. */
  private async readAndLearn(project: ProjectSubscriptions, topic: Topic, userId: string): Promise<TopicRead> {
    const epoch = this.bus.epoch;
    const read = await this.store.readForSubscribe(topic, userId);
    this.metrics.subscribeReads.inc({ source: 'store' });
    if (!this.bus.connected || epoch !== this.bus.epoch || this.projects.get(topic.projectId) !== project) return read;
    const view = this.standingView(project);
    if (view) view.learn(read, topic, userId);
    else project.view = ProjectView.from(read, topic, userId, project.lastSeq, this.historyRequests, epoch);
    if (project.view?.wantsMembers) this.loadMembers(topic.projectId, project, project.view);
    return read;
  }

  /**
   * Loads every membership of the project into its view, off the subscribe's path: the subscribes of a storm
   * (thousands of members connecting at once) then read the store once for all of them instead of once each.
   */
  private loadMembers(projectId: string, project: ProjectSubscriptions, view: ProjectView): void {
    view.loadingMembers();
    this.store.readMembers(projectId).then(
      (read) => view.membersLoaded(this.standingView(project) === view ? read : undefined),
      (err: unknown) => {
        view.membersLoaded(undefined);
        this.log.debug({ err, project: projectId }, 'members load failed; subscribes read the store meanwhile');
      },
    );
  }

  private snapshotFrame(topicString: string, snapshot: unknown): OutboundFrame {
    const build = () => OutboundFrame.of(publishFrame(topicString, 'CREATE', snapshot), topicString);
    if (typeof snapshot !== 'object' || snapshot === null || !Object.isFrozen(snapshot)) return build();
    let byTopic = this.sharedSnapshotFrames.get(snapshot);
    if (!byTopic) this.sharedSnapshotFrames.set(snapshot, (byTopic = new Map<string, OutboundFrame>()));
    let frame = byTopic.get(topicString);
    if (!frame) byTopic.set(topicString, (frame = build()));
    return frame;
  }

  unsubscribe(sink: FrameSink, topicString: string): void {
    const sub = sink.subscriptions.get(topicString);
    if (sub) this.drop(sub);
  }

  /** Forgets every subscription of a connection that ended. */
  disconnect(sink: FrameSink): void {
    for (const sub of [...sink.subscriptions.values()]) this.drop(sub);
  }

  // ---- delivery ----------------------------------------------------------------------------------

  /**
   * Re-answers every live subscription of every project with a fresh snapshot: after the bus reconnected,
   * envelopes may have been missed while it was away.
   */
  resyncAll(reason: string): void {
    for (const [projectId, project] of this.projects) this.resync(projectId, project, reason);
  }

  private resync(projectId: string, project: ProjectSubscriptions, reason: string): void {
    project.view = null; // something may have been missed: the view reads the store again
    const subs = [...project.live()];
    // Parked ones too: one that the store could not answer waits for this moment, and a quiet project may send no envelope to wake it.
    for (const sub of project.pending) if (sub.parked) subs.push(sub);
    if (subs.length === 0) return;
    this.log.warn({ project: projectId, subscriptions: subs.length, reason }, 'resynchronizing subscriptions with fresh snapshots');
    for (const sub of subs) {
      if (!sub.pending) project.suspend(sub);
      this.reanswer(sub, project);
    }
  }

  /**
   * Reads the project's parked subscriptions again, at most once per PARKED_RETRY_MS: while a store that
   * restarted empty is being reloaded, every envelope could otherwise cost one read per parked subscription.
   */
  private retryParked(project: ProjectSubscriptions): void {
    if (project.parkedRetry) return; // a round is due already
    const round = () => {
      project.parkedRetry = null;
      project.parkedRetriedAt = Date.now();
      for (const sub of project.pending) if (sub.parked && !sub.inflight) this.reanswer(sub, project);
    };
    const wait = project.parkedRetriedAt + PARKED_RETRY_MS - Date.now();
    if (wait <= 0) round();
    else project.parkedRetry = setTimeout(round, wait).unref();
  }

  private reanswer(sub: Subscription, project: ProjectSubscriptions): void {
    sub.parked = false;
    const answer = this.answer(sub.sink, sub, project, false, true);
    sub.inflight = answer;
    void answer.finally(() => {
      if (sub.inflight === answer) sub.inflight = null;
    });
  }

  private onEnvelope(env: Envelope): void {
    const project = this.projects.get(env.projectId);
    if (!project) return;
    try {
      const last = project.lastSeq;
      project.lastSeq = env.seq;
      if (last !== null && env.seq !== last + 1) {
        // A gap (missed envelopes) or a step back (the store restarted empty): the live state of every
        // subscription may be off, so each gets a fresh snapshot; this envelope is replayed if newer.
        this.resync(
          env.projectId,
          project,
          env.seq > last ? `gap: seq ${last} then ${env.seq}` : `seq went back from ${last} to ${env.seq}`,
        );
      }
      if (this.standingView(project)?.follow(env) === false) project.view = null;
      let parked = false;
      for (const sub of project.pending) {
        sub.pending!.push(env);
        parked ||= sub.parked;
      }
      if (parked) this.retryParked(project);
      const frames = new FrameCache();
      const recipients = this.delivery.candidates(project, env.change, frames);
      this.delivery.deliver(env, recipients, frames);
      // Accepted by ingest (on whichever replica) to written to this replica's sockets, once per envelope delivered.
      if (recipients.size > 0) this.metrics.deliveryLatency.observe(Math.max(0, Date.now() - env.acceptedAt) / 1000);
      if (movesMetrics(env.change) && project.exact.has(topics.metrics(env.projectId))) this.metricsFeed.changed(env.projectId);
    } catch (err) {
      this.log.error({ err, project: env.projectId, seq: env.seq }, 'delivery failed');
    }
  }

  // ---- bookkeeping -------------------------------------------------------------------------------

  /** Ends a subscription with an error frame naming its topic. */
  private end(sub: Subscription, code: FrameErrorCode, message: string): void {
    if (sub.sink.subscriptions.get(sub.topicString) !== sub) return;
    this.drop(sub);
    sub.sink.send(OutboundFrame.of(errorFrame(sub.topicString, code, message)));
  }

  /** The first subscription of a connection in a project asks for its place there; the others share it. */
  private takeSeat(sub: Subscription): void {
    const { sink, projectId } = sub;
    let seat = sink.seats.get(projectId);
    if (!seat) {
      const created: ProjectSeat = { subscriptions: 0, granted: this.limits.joinProject(sink.id, projectId) };
      sink.seats.set(projectId, created);
      // A refusal answers the subscriptions waiting on it; the next subscribe asks again (the project may have room by then).
      void created.granted.then((ok) => {
        if (!ok && sink.seats.get(projectId) === created) sink.seats.delete(projectId);
      });
      seat = created;
    }
    seat.subscriptions++;
    sub.seat = seat;
  }

  /** The last subscription of a held place gives it back (a refused place was never held, and left the map already). */
  private freeSeat(sub: Subscription): void {
    const seat = sub.seat;
    if (!seat) return;
    sub.seat = null;
    if (--seat.subscriptions > 0 || sub.sink.seats.get(sub.projectId) !== seat) return;
    sub.sink.seats.delete(sub.projectId);
    this.limits.leaveProject(sub.sink.id, sub.projectId);
  }

  private drop(sub: Subscription): void {
    if (sub.sink.subscriptions.get(sub.topicString) === sub) {
      sub.sink.subscriptions.delete(sub.topicString);
      this.freeSeat(sub);
    }
    const project = this.projects.get(sub.projectId);
    if (!project) return;
    project.remove(sub);
    if (sub.topic.kind === 'metrics') this.metricsFeed.forget(sub.projectId);
    this.bus.leave(sub.projectId);
    if (project.size === 0) {
      this.projects.delete(sub.projectId);
      if (project.parkedRetry) clearTimeout(project.parkedRetry);
    }
  }

  private metricsWatchers(projectId: string): Iterable<Subscription> {
    return this.projects.get(projectId)?.exact.get(topics.metrics(projectId)) ?? [];
  }

  private project(projectId: string): ProjectSubscriptions {
    let p = this.projects.get(projectId);
    if (!p) {
      p = new ProjectSubscriptions();
      this.projects.set(projectId, p);
    }
    return p;
  }
}

/** The changes the metrics depend on: requests, members, and the project's settings. */
function movesMetrics(change: Change): boolean {
  return change.type === 'request' || change.type === 'request_removed' || change.type === 'project_user' || change.type === 'project';
}
