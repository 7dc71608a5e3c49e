import { Viewer, canSeeRequest, memberUserId, viewerKey, viewerOf } from '../access/member-access';
import { Change } from '../domain/changes';
import { DomainEvent } from '../domain/domain-events';
import {
  BotDoc,
  EventDoc,
  MessageDoc,
  ProjectDoc,
  ProjectUserDoc,
  RequestDoc,
  WireProjectUser,
  refId,
  requestStub,
  timeOf,
} from '../domain/documents';
import { freshness } from '../domain/staleness';
import { isBusy, toWireProjectUser } from '../domain/transforms';
import { MetricsOp, memberOps, projectOps, requestOps } from '../analytics/metrics-ops';

/**
 * The rules of applying an event (ingest.md §1), shared by every engine: given a reader of one project's
 * current state, decide the outcome, the change to publish, and the writes to make. The engine runs the
 * plan atomically (memory: synchronously; Redis: in one commit script that checks the version it read).
 */

export interface ProjectStateReader {
  project(): Promise<ProjectDoc | null>;
  request(requestId: string): Promise<RequestDoc | null>;
  requestIdOf(oid: string): Promise<string | undefined>;
  message(requestId: string, messageId: string): Promise<MessageDoc | null>;
  projectUser(projectUserId: string): Promise<ProjectUserDoc | null>;
  projectUsers(): Promise<ProjectUserDoc[]>;
  /** Listed requests the viewer sees, newest `updatedAt` first (ties by `_id`); all of them without a limit. */
  listed(viewer: Pick<Viewer, 'scope' | 'userId'>, limit?: number): Promise<RequestDoc[]>;
  hasEvent(projectUserId: string, name: string, eventId: string): Promise<boolean>;
  bot(botId: string): Promise<BotDoc | null>;
  /**
   * When the delete that left each tombstone key (see `tombstoneKey`) was accepted, in ms, or null where there
   * is none; may include expired ones (the planner ignores them). One round trip on Redis whatever the keys.
   */
  tombstones(keys: string[]): Promise<Array<number | null>>;
}

/**
 * Tombstone keys: a deleted request is remembered by its request_id and by its `_id` (a `request.delete` may
 * name either, and a late update names both), a deleted project_user by its `_id`.
 */
export const tombstoneKey = {
  request: (requestId: string): string => `r:${requestId}`,
  requestOid: (oid: string): string => `o:${oid}`,
  projectUser: (projectUserId: string): string => `pu:${projectUserId}`,
};

export type WriteOp =
  | { op: 'putRequest'; doc: RequestDoc; prev: RequestDoc | null }
  | { op: 'removeRequest'; doc: RequestDoc }
  | { op: 'purgeMessages'; requestId: string }
  | { op: 'putMessage'; doc: MessageDoc }
  | { op: 'putProjectUser'; doc: ProjectUserDoc; prev: ProjectUserDoc | null }
  | { op: 'removeProjectUser'; doc: ProjectUserDoc }
  | { op: 'putProject'; doc: ProjectDoc }
  | { op: 'addEvent'; doc: EventDoc; projectUserId: string; at: number }
  | { op: 'putBot'; doc: BotDoc }
  /** Remembers a delete accepted at `at` (ms) under a tombstone key, replacing an earlier one. */
  | { op: 'putTombstone'; key: string; at: number }
  | { op: 'dropTombstone'; key: string }
  /** The project's metrics move with the change, in the same commit (analytics.md). */
  | MetricsOp;

/** `stale`/`duplicate` publish nothing, but may still carry housekeeping writes (e.g. purging orphan messages). */
export type ApplyPlan = { outcome: 'stale' | 'duplicate'; ops?: WriteOp[] } | { outcome: 'applied'; change: Change; ops: WriteOp[] };

export interface PlanOptions {
  /** WS_HISTORY_REQUESTS_LIMIT: the size of the fresh list a member gets when its scope changes. */
  requestsLimit: number;
  now: number;
  /** When the event was accepted (the `acceptedAt` of ReadModel.apply): a delete's tombstone records it. */
  acceptedAt: number;
  /** DELETE_TOMBSTONE_TTL_S in ms: a tombstone older than this (by `now`) counts as absent. */
  tombstoneTtlMs: number;
}

export async function planApply(event: DomainEvent, r: ProjectStateReader, opts: PlanOptions): Promise<ApplyPlan> {
  switch (event.type) {
    case 'request.upsert':
      return planRequest(event.data, r, opts);
    case 'request.delete': {
      const rid = event.requestId ?? (event.oid !== undefined ? await r.requestIdOf(event.oid) : undefined);
      const prev = rid !== undefined ? await r.request(rid) : null;
      // Every id the delete or the deleted request names gets a tombstone, also when the request is unknown:
      // a delete that arrives before its create must keep that older create out.
      const keys = new Set<string>();
      if (rid !== undefined) keys.add(tombstoneKey.request(rid));
      if (event.oid !== undefined) keys.add(tombstoneKey.requestOid(event.oid));
      if (prev) keys.add(tombstoneKey.request(prev.request_id)).add(tombstoneKey.requestOid(prev._id));
      const tombs: WriteOp[] = [...keys].map((key) => ({ op: 'putTombstone', key, at: opts.acceptedAt }));
      if (!prev) {
        // Messages can arrive before their request: a delete removes them all the same.
        const purge: WriteOp[] = rid !== undefined ? [{ op: 'purgeMessages', requestId: rid }] : [];
        return { outcome: 'duplicate', ops: [...purge, ...tombs] };
      }
      return {
        outcome: 'applied',
        change: { type: 'request_removed', prev },
        ops: [{ op: 'removeRequest', doc: prev }, ...tombs, ...requestOps(prev, null, opts.now)],
      };
    }
    case 'message.upsert': {
      const incoming = event.data;
      const stored = withoutEmbeddedRequest(incoming);
      // The request's tombstone is read with the message (one round trip on Redis), though only a message
      // not stored yet needs it: a stored one decides by itself, as a stored request does.
      const [prev, deletedAt] = await Promise.all([
        r.message(incoming.recipient, incoming._id),
        r.tombstones([tombstoneKey.request(incoming.recipient)]),
      ]);
      // A message of a deleted request dated no later than the delete: it was purged with the request (or
      // would have been, had it arrived first), so it must not come back on its own. The tombstone stays:
      // a message re-creates no request, and older request updates must still be kept out.
      if (!prev && deletedBefore(messageTime(incoming), deletedAt, opts)) return { outcome: 'stale' };
      const fresh = freshness(prev, stored);
      if (fresh !== 'newer') return { outcome: fresh };
      return {
        outcome: 'applied',
        change: { type: 'message', method: prev ? 'UPDATE' : 'CREATE', message: incoming },
        ops: [{ op: 'putMessage', doc: stored }],
      };
    }
    case 'project_user.upsert':
      return planProjectUser(event.data, r, opts);
    case 'project_user.delete': {
      const prev = await r.projectUser(event.projectUserId);
      const tomb: WriteOp = { op: 'putTombstone', key: tombstoneKey.projectUser(event.projectUserId), at: opts.acceptedAt };
      if (!prev) return { outcome: 'duplicate', ops: [tomb] };
      const project = await r.project();
      return {
        outcome: 'applied',
        change: { type: 'project_user', prev: toWireProjectUser(prev, project), next: null },
        ops: [{ op: 'removeProjectUser', doc: prev }, tomb, ...memberOps(prev, null, project)],
      };
    }
    case 'project.update': {
      const prev = await r.project();
      const fresh = freshness(prev, event.data);
      if (fresh !== 'newer') return { outcome: fresh };
      const busyChanged: WireProjectUser[] = [];
      const members = await r.projectUsers();
      for (const pu of members) {
        if (isBusy(pu, prev) !== isBusy(pu, event.data)) busyChanged.push(toWireProjectUser(pu, event.data));
      }
      return {
        outcome: 'applied',
        change: { type: 'project', prev, next: event.data, busyChanged },
        ops: [{ op: 'putProject', doc: event.data }, ...projectOps(members, prev, event.data)],
      };
    }
    case 'event.emit': {
      const doc = event.data;
      const puId = refId(doc.project_user)!;
      if (await r.hasEvent(puId, doc.name, doc._id)) return { outcome: 'duplicate' };
      const created = timeOf(doc.createdAt);
      const at = Number.isNaN(created) ? opts.now : created;
      return { outcome: 'applied', change: { type: 'event', event: doc }, ops: [{ op: 'addEvent', doc, projectUserId: puId, at }] };
    }
    case 'bot.upsert': {
      const prev = await r.bot(event.data._id);
      const fresh = freshness(prev, event.data);
      if (fresh !== 'newer') return { outcome: fresh };
      return { outcome: 'applied', change: { type: 'bot', bot: event.data }, ops: [{ op: 'putBot', doc: event.data }] };
    }
  }
}

async function planRequest(doc: RequestDoc, r: ProjectStateReader, opts: PlanOptions): Promise<ApplyPlan> {
  // All lookups at once (one round trip on Redis); the old request_id is needed only when none is stored
  // under the new one, the tombstones only when none is stored at all.
  const tombKeys = [tombstoneKey.request(doc.request_id), tombstoneKey.requestOid(doc._id)];
  const [byRid, oldRid, tombs] = await Promise.all([r.request(doc.request_id), r.requestIdOf(doc._id), r.tombstones(tombKeys)]);
  let prev = byRid;
  if (!prev && oldRid !== undefined && oldRid !== doc.request_id) prev = await r.request(oldRid);
  const ops: WriteOp[] = [];
  if (!prev) {
    const past = checkTombstones(tombKeys, tombs, doc, opts);
    if (past === 'stale') return { outcome: 'stale' };
    ops.push(...past);
  }
  const fresh = freshness(prev, doc);
  if (fresh !== 'newer') return { outcome: fresh };
  if (prev && prev.request_id !== doc.request_id) {
    // The same request renamed: its old entry and messages must not linger.
    ops.push({ op: 'removeRequest', doc: prev }, { op: 'putRequest', doc, prev: null });
  } else {
    ops.push({ op: 'putRequest', doc, prev });
  }
  ops.push(...requestOps(prev, doc, opts.now));
  return { outcome: 'applied', change: { type: 'request', prev, next: doc }, ops };
}

async function planProjectUser(doc: ProjectUserDoc, r: ProjectStateReader, opts: PlanOptions): Promise<ApplyPlan> {
  const tombKeys = [tombstoneKey.projectUser(doc._id)];
  const [prev, tombs] = await Promise.all([r.projectUser(doc._id), r.tombstones(tombKeys)]);
  const ops: WriteOp[] = [];
  if (!prev) {
    const past = checkTombstones(tombKeys, tombs, doc, opts);
    if (past === 'stale') return { outcome: 'stale' };
    ops.push(...past);
  }
  const fresh = freshness(prev, doc);
  if (fresh !== 'newer') return { outcome: fresh };
  const project = await r.project();
  const change: Extract<Change, { type: 'project_user' }> = {
    type: 'project_user',
    prev: prev ? toWireProjectUser(prev, project) : null,
    next: toWireProjectUser(doc, project),
  };
  const uid = memberUserId(doc);
  const prevKey = viewerKey(prev);
  const nextKey = viewerKey(doc);
  if (prev && prevKey !== null && nextKey !== null && prevKey !== nextKey && uid !== undefined && memberUserId(prev) === uid) {
    const before = viewerOf(prev, uid)!;
    const after = viewerOf(doc, uid)!;
    const removed = (await r.listed(before)).filter((req) => !canSeeRequest(after, req)).map(requestStub);
    change.view = { removed, snapshot: await r.listed(after, opts.requestsLimit) };
  }
  ops.push({ op: 'putProjectUser', doc, prev }, ...memberOps(prev, doc, project));
  return { outcome: 'applied', change, ops };
}

/**
 * A document of which no version is stored, against the tombstones of its ids: `stale` when a live one (its
 * delete accepted less than the TTL ago) is not older than the document's `updatedAt`; otherwise the ops
 * that drop the tombstones found (the document is about to be stored, and they would only linger). A
 * document without a readable `updatedAt` cannot be compared with the delete: it is applied, as freshness()
 * applies a document whose version cannot be compared with the stored one.
 */
function checkTombstones(keys: string[], ats: Array<number | null>, doc: { updatedAt?: string }, opts: PlanOptions): 'stale' | WriteOp[] {
  if (deletedBefore(timeOf(doc.updatedAt), ats, opts)) return 'stale';
  return keys.filter((_, i) => typeof ats[i] === 'number').map((key): WriteOp => ({ op: 'dropTombstone', key }));
}

/**
 * Whether a live tombstone among `ats` (its delete accepted less than the TTL ago) is not older than `time`
 * (ms): what makes a document that is not stored `stale`. A `time` that is NaN cannot be compared with the
 * delete: never stale, as freshness() applies a document whose version cannot be compared.
 */
function deletedBefore(time: number, ats: Array<number | null>, opts: PlanOptions): boolean {
  if (Number.isNaN(time)) return false;
  const live = ats.filter((at): at is number => typeof at === 'number' && opts.now - at < opts.tombstoneTtlMs);
  return live.length > 0 && time <= Math.max(...live);
}

/** A message's version time: its `updatedAt`, else its `createdAt` (NaN when neither parses). */
function messageTime(msg: MessageDoc): number {
  const updated = timeOf(msg.updatedAt);
  return Number.isNaN(updated) ? timeOf(msg.createdAt) : updated;
}

export function withoutEmbeddedRequest(msg: MessageDoc): MessageDoc {
  if (!('request' in msg)) return msg;
  const copy = { ...msg };
  delete copy.request;
  return copy;
}

/** Newest `updatedAt` first, ties by `_id` ascending: the order of every request list. */
export function sortNewestFirst(docs: RequestDoc[]): RequestDoc[] {
  return docs.sort(newestFirst);
}

/** The order of every request list as a comparator: negative when `a` comes before `b`. */
export function newestFirst(a: RequestDoc, b: RequestDoc): number {
  const d = (timeOf(b.updatedAt) || 0) - (timeOf(a.updatedAt) || 0);
  return d !== 0 ? d : a._id < b._id ? -1 : a._id > b._id ? 1 : 0;
}
