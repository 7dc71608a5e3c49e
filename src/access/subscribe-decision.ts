import {
  RequestAudience,
  Viewer,
  audienceOf,
  canSeeRequest,
  isProjectEnabled,
  mayReadMetrics,
  memberUserId,
  viewerOf,
} from './member-access';
import { toWireProjectUser } from '../domain/transforms';
import { FrameErrorCode } from '../protocol/frames';
import { Topic } from '../protocol/topic-grammar';
import { TopicRead } from '../store/read-model';

export type SubscribeDecision =
  { ok: true; viewer: Viewer; snapshot: unknown; audience: RequestAudience | null } | { ok: false; code: FrameErrorCode; message: string };

/** protocol.md §3: may this user hold this topic, and what is its snapshot? Pure over one consistent read. */
export function decideSubscribe(topic: Topic, userId: string, read: TopicRead): SubscribeDecision {
  // Membership first: a stranger learns nothing, not even that a disabled project exists.
  const viewer = viewerOf(read.member, userId);
  if (!viewer) return deny('forbidden', 'not an active member of this project');
  if (!isProjectEnabled(read.project)) return deny('forbidden', 'project is disabled');
  switch (topic.kind) {
    case 'requests':
      return allow(viewer, read.requests ?? []);
    case 'request':
    case 'messages': {
      const request = read.request;
      if (!request) return deny('not_found', 'no such request');
      if (!canSeeRequest(viewer, request)) return deny('forbidden', 'this request is not visible to you');
      const snapshot = topic.kind === 'request' ? request : (read.messages ?? []);
      return { ok: true, viewer, snapshot, audience: audienceOf(request) };
    }
    case 'project_user': {
      const target = read.target;
      if (!target || target._id !== topic.projectUserId || memberUserId(target) !== userId) {
        return deny('forbidden', 'only your own project_user can be watched here');
      }
      return allow(viewer, toWireProjectUser(target, read.project));
    }
    case 'project_user_by_user': {
      const target = read.target;
      if (!target || target.status !== 'active') return deny('not_found', 'no active project_user for this user');
      return allow(viewer, toWireProjectUser(target, read.project));
    }
    case 'events':
      return allow(viewer, read.events ?? []);
    case 'bot':
      return allow(viewer, read.bot ?? null);
    case 'metrics':
      if (!mayReadMetrics(read.member)) {
        return deny('forbidden', 'metrics need the role owner, admin or supervisor, or the permission analytics_read');
      }
      return allow(viewer, read.metrics ?? null);
  }
}

function allow(viewer: Viewer, snapshot: unknown): SubscribeDecision {
  return { ok: true, viewer, snapshot, audience: null };
}

function deny(code: FrameErrorCode, message: string): SubscribeDecision {
  return { ok: false, code, message };
}
