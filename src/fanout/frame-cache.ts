import { memberUserId } from '../access/member-access';
import { Change } from '../domain/changes';
import { WireProjectUser } from '../domain/documents';
import { Method, publishFrame } from '../protocol/frames';
import { topics } from '../protocol/topic-grammar';
import { OutboundFrame } from './outbound-frame';

/** Frames of one envelope, serialized once and shared by every recipient. */
export class FrameCache {
  private readonly frames = new Map<string, OutboundFrame>();
  private busy: Map<string, WireProjectUser> | null = null;

  /** The project_users whose isBusy changed, by each topic they are published on (built once per envelope). */
  busyByTopic(changed: WireProjectUser[]): Map<string, WireProjectUser> {
    if (!this.busy) {
      this.busy = new Map();
      for (const pu of changed) for (const t of projectUserTopics(pu)) this.busy.set(t, pu);
    }
    return this.busy;
  }

  private exact: ReadonlySet<string> | null = null;
  private last: { topic: string; method: Method; variant: string; frame: OutboundFrame } | null = null;

  /** The exact topic strings the change is published on (built once per envelope). */
  exactTopics(change: Change): ReadonlySet<string> {
    this.exact ??= new Set(exactTopicsOf(change));
    return this.exact;
  }

  /** One frame per (topic, method) and envelope; `variant` tells apart several messages of the same pair. */
  get(topic: string, method: Method, message: unknown, variant = ''): OutboundFrame {
    // Consecutive recipients nearly always share a frame: answer them without building a key.
    const last = this.last;
    if (last && last.topic === topic && last.method === method && last.variant === variant) return last.frame;
    const key = `${method} ${topic} ${variant}`;
    let frame = this.frames.get(key);
    if (!frame) {
      frame = OutboundFrame.of(publishFrame(topic, method, message), topic);
      this.frames.set(key, frame);
    }
    this.last = { topic, method, variant, frame };
    return frame;
  }
}

/** The exact topics (every kind but `/P/requests`) a change is published on. */
function exactTopicsOf(change: Change): string[] {
  switch (change.type) {
    case 'request':
    case 'request_removed': {
      const r = change.type === 'request' ? change.next : change.prev;
      return [topics.request(r.id_project, r.request_id), topics.messages(r.id_project, r.request_id)];
    }
    case 'message':
      return [topics.messages(change.message.id_project, change.message.recipient)];
    case 'project_user':
      return [change.prev, change.next].flatMap((pu) => (pu ? projectUserTopics(pu) : []));
    case 'project':
      return isDisabled(change) ? [] : change.busyChanged.flatMap(projectUserTopics);
    case 'event': {
      const pu = eventProjectUser(change.event);
      const p = change.event.id_project;
      return [topics.events(p, pu), topics.namedEvents(p, pu, change.event.name)];
    }
    case 'bot':
      return [topics.bot(change.bot.id_project, change.bot._id)];
  }
}

export function projectUserTopics(pu: WireProjectUser): string[] {
  const p = pu.id_project;
  const out = [topics.projectUser(p, pu._id)];
  const uid = memberUserId(pu);
  if (uid !== undefined) out.push(topics.projectUserByUser(p, uid));
  if (pu.uuid_user !== undefined && pu.uuid_user !== uid) out.push(topics.projectUserByUser(p, pu.uuid_user));
  return out;
}

function eventProjectUser(event: { project_user: unknown }): string {
  const pu = event.project_user;
  return typeof pu === 'string' ? pu : (pu as { _id: string })._id;
}

export function isDisabled(change: Extract<Change, { type: 'project' }>): boolean {
  return change.next.status !== undefined && change.next.status !== 100;
}
