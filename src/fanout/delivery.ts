import {
  Scope,
  audienceOf,
  audienceUserIds,
  canSee,
  canSeeRequest,
  mayReadMetrics,
  memberUserId,
  scopeOf,
  viewerKey,
} from '../access/member-access';
import { Change, Envelope } from '../domain/changes';
import { REQUEST_STATUS, RequestDoc, WireProjectUser, isListed, requestStub } from '../domain/documents';
import { FrameErrorCode } from '../protocol/frames';
import { FrameCache, isDisabled, projectUserTopics } from './frame-cache';
import { ProjectSubscriptions, Subscription } from './subscription-registry';

/**
 * The write path: which live subscriptions an envelope concerns, and what each of them is sent (protocol.md
 * §4, the T1–T8 visibility rules), decided from the envelope alone, per subscription, by the same code for live
 * delivery and for the replay after a snapshot. Frames come from the envelope's FrameCache (built once, shared
 * by every recipient); what reaches a socket in one turn leaves in one write (see TurnWrites).
 */
export class Delivery {
  constructor(
    /** Ends a subscription with an error frame (the fan-out forgets it). */
    private readonly end: (sub: Subscription, code: FrameErrorCode, message: string) => void,
    /** Re-files a subscription whose member's scope changed. */
    private readonly rescope: (sub: Subscription, scope: Scope) => void,
  ) {}

  /** The live subscriptions a change may concern, found through the indexes. */
  candidates(project: ProjectSubscriptions, change: Change, frames: FrameCache): Set<Subscription> {
    const out = new Set<Subscription>();
    for (const t of frames.exactTopics(change)) for (const s of project.exact.get(t) ?? []) out.add(s);
    const addUser = (u: string | undefined) => {
      if (u !== undefined) for (const s of project.byUser.get(u) ?? []) if (!s.pending) out.add(s);
    };
    switch (change.type) {
      case 'request':
      case 'request_removed': {
        const prev = change.prev;
        const next = change.type === 'request' ? change.next : null;
        for (const s of project.requestsAll) out.add(s);
        const users = new Set<string>();
        if (prev) for (const u of audienceUserIds(prev)) users.add(u);
        if (next) for (const u of audienceUserIds(next)) users.add(u);
        for (const u of users) for (const s of project.requestsByUser.get(u) ?? []) out.add(s);
        break;
      }
      case 'project_user':
        for (const pu of [change.prev, change.next]) if (pu) addUser(memberUserId(pu));
        break;
      case 'project':
        if (isDisabled(change)) for (const s of project.live()) out.add(s);
        break;
      default:
        break;
    }
    return out;
  }

  /** Applies one envelope to each given subscription; the subscriptions a change does not concern are left alone. */
  deliver(env: Envelope, subs: Iterable<Subscription>, frames: FrameCache): void {
    const change = env.change;
    for (const sub of subs) {
      if (env.seq <= sub.snapshotSeq) continue; // already in its snapshot
      switch (change.type) {
        case 'request':
          this.onRequest(sub, change.prev, change.next, frames);
          break;
        case 'request_removed':
          this.onRequestRemoved(sub, change.prev, frames);
          break;
        case 'message':
          if (frames.exactTopics(change).has(sub.topicString)) sub.sink.send(frames.get(sub.topicString, change.method, change.message));
          break;
        case 'project_user':
          this.onProjectUser(sub, change, frames);
          break;
        case 'project':
          if (isDisabled(change)) {
            this.end(sub, 'forbidden', 'project is disabled');
          } else {
            const pu = frames.busyByTopic(change.busyChanged).get(sub.topicString);
            if (pu) sub.sink.send(frames.get(sub.topicString, 'UPDATE', pu));
          }
          break;
        case 'event':
          if (frames.exactTopics(change).has(sub.topicString)) sub.sink.send(frames.get(sub.topicString, 'CREATE', change.event));
          break;
        case 'bot':
          if (frames.exactTopics(change).has(sub.topicString)) sub.sink.send(frames.get(sub.topicString, 'UPDATE', change.bot));
          break;
      }
    }
  }

  /** protocol.md §4.2 for `/P/requests`, and the T2/T3 visibility rules. */
  private onRequest(sub: Subscription, prev: RequestDoc | null, next: RequestDoc, frames: FrameCache): void {
    const t = sub.topic;
    if (t.kind === 'requests') {
      const was = prev !== null && isListed(prev) && canSeeRequest(sub, prev);
      const now = isListed(next) && canSeeRequest(sub, next);
      if (now) {
        const firstSeen = prev === null || !isListed(prev);
        sub.sink.send(frames.get(sub.topicString, firstSeen ? 'CREATE' : 'UPDATE', next));
      } else if (was) {
        if (next.status === REQUEST_STATUS.CLOSED) {
          sub.sink.send(frames.get(sub.topicString, 'UPDATE', next));
        } else {
          // Drafts and preflights never reach the list, not even as a last update.
          if (next.draft !== true && next.preflight !== true) sub.sink.send(frames.get(sub.topicString, 'UPDATE', next));
          sub.sink.send(frames.get(sub.topicString, 'DELETE', requestStub(next)));
        }
      }
      return;
    }
    if ((t.kind === 'request' || t.kind === 'messages') && t.requestId === next.request_id) {
      if (!canSeeRequest(sub, next)) {
        this.end(sub, 'forbidden', 'this request is no longer visible to you');
        return;
      }
      sub.audience = audienceOf(next);
      if (t.kind === 'request') sub.sink.send(frames.get(sub.topicString, 'UPDATE', next));
    }
  }

  private onRequestRemoved(sub: Subscription, prev: RequestDoc, frames: FrameCache): void {
    const t = sub.topic;
    if (t.kind === 'requests') {
      if (isListed(prev) && canSeeRequest(sub, prev)) sub.sink.send(frames.get(sub.topicString, 'DELETE', requestStub(prev)));
    } else if (t.kind === 'request' && t.requestId === prev.request_id) {
      sub.sink.send(frames.get(sub.topicString, 'DELETE', requestStub(prev)));
    } else if (t.kind === 'messages' && t.requestId === prev.request_id) {
      this.end(sub, 'not_found', 'the request was deleted');
    }
  }

  private onProjectUser(sub: Subscription, change: Extract<Change, { type: 'project_user' }>, frames: FrameCache): void {
    const { prev, next } = change;
    if (next) this.sendProjectUser(sub, next, frames);
    else if (prev) this.sendProjectUserRemoved(sub, prev, frames);

    // Membership effects for the user behind this project_user.
    const prevUser = prev ? memberUserId(prev) : undefined;
    const nextUser = next ? memberUserId(next) : undefined;
    if (sub.userId !== prevUser && sub.userId !== nextUser) return;
    const key = sub.userId === nextUser ? viewerKey(next) : null;
    if (key === null) {
      this.end(sub, 'forbidden', 'you are no longer an active member of this project');
      return;
    }
    if (sub.topic.kind === 'metrics' && !mayReadMetrics(next)) {
      this.end(sub, 'forbidden', 'your role no longer gives access to the metrics of this project');
      return;
    }
    const scope = scopeOf(next!);
    if (scope === sub.scope) return;
    this.rescope(sub, scope);
    const t = sub.topic;
    if (t.kind === 'requests') {
      const view = change.view;
      if (!view) return;
      for (const stub of view.removed) sub.sink.send(frames.get(sub.topicString, 'DELETE', stub, stub.request_id));
      sub.sink.send(frames.get(sub.topicString, 'CREATE', view.snapshot));
    } else if ((t.kind === 'request' || t.kind === 'messages') && sub.audience && !canSee(scope, sub.userId, sub.audience)) {
      this.end(sub, 'forbidden', 'this request is no longer visible to you');
    }
  }

  private sendProjectUser(sub: Subscription, pu: WireProjectUser, frames: FrameCache): void {
    if (projectUserTopics(pu).includes(sub.topicString)) sub.sink.send(frames.get(sub.topicString, 'UPDATE', pu));
  }

  private sendProjectUserRemoved(sub: Subscription, pu: WireProjectUser, frames: FrameCache): void {
    if (!projectUserTopics(pu).includes(sub.topicString)) return;
    const stub = { _id: pu._id, id_project: pu.id_project, id_user: memberUserId(pu) ?? null, uuid_user: pu.uuid_user ?? null };
    sub.sink.send(frames.get(sub.topicString, 'DELETE', stub));
  }
}
