import { isActiveMember } from '../access/member-access';
import { ProjectDoc, ProjectUserDoc, REQUEST_STATUS, RequestDoc, isListed, timeOf } from '../domain/documents';
import { chatLimit, isBusy } from '../domain/transforms';

/**
 * How one applied change moves a project's metrics (analytics.md), as writes the engines commit with the change
 * itself: counters move by the difference between a document's contribution before and after, and the
 * flow windows get an entry when a request arrives, is first answered or closes. Nothing here reads more than
 * the documents of the change: producing the metrics never walks a project's requests or members.
 */

/** The counters a project keeps (the Redis hash `mx` holds them under these names). */
export const METRIC_COUNTERS = [
  'open',
  'unassigned',
  'assigned',
  'served',
  'members',
  'available',
  'busy',
  'unavailable',
  'online',
  'slots',
  'unlimited',
  'used',
] as const;

export type MetricCounter = (typeof METRIC_COUNTERS)[number];
export type Counts = Partial<Record<MetricCounter, number>>;

export type MetricsOp =
  /** Adds each delta to its counter. */
  | { op: 'mxCount'; delta: Counts }
  /** An unassigned request's `createdAt` (ms) while it waits, keyed by `_id`; `at: null` when it no longer waits. */
  | { op: 'mxWait'; id: string; at: number | null }
  /** A request arrived at `at` (its createdAt). */
  | { op: 'mxArrival'; id: string; at: number }
  /** A request closed at `at`; `handleMs`: closed − (first response or created), null when not computable. */
  | { op: 'mxClosure'; id: string; at: number; handleMs: number | null }
  /** A request was first answered at `at`, `responseMs` after it was created. */
  | { op: 'mxFirstResponse'; id: string; at: number; responseMs: number };

/** A request's share of the `requests` counters. */
export function requestCounts(r: RequestDoc | null): Counts {
  if (!r || !isListed(r)) return {};
  return {
    open: 1,
    unassigned: r.status === REQUEST_STATUS.UNASSIGNED ? 1 : 0,
    assigned: r.status === REQUEST_STATUS.ASSIGNED ? 1 : 0,
    served: r.status === REQUEST_STATUS.SERVED ? 1 : 0,
  };
}

/** A project_user's share of the `agents` and `capacity` counters, under the project's settings. */
export function memberCounts(pu: ProjectUserDoc | null, project: ProjectDoc | null): Counts {
  if (!isActiveMember(pu)) return {};
  const available = pu.user_available === true;
  const out: Counts = {
    members: 1,
    available: available ? 1 : 0,
    busy: available && isBusy(pu, project) ? 1 : 0,
    unavailable: available ? 0 : 1,
    online: isOnline(pu) ? 1 : 0,
  };
  if (available) {
    const limit = chatLimit(pu, project);
    if (limit === undefined) out.unlimited = 1;
    else out.slots = wholeCount(limit);
    out.used = assigned(pu);
  }
  return out;
}

/** The most chat slots or assigned requests one member counts for: a bogus limit must not make a forecast of millions. */
export const MAX_PER_MEMBER = 10_000;

/**
 * A count as the counters keep it: a whole number in [0, MAX_PER_MEMBER] (the documents' numbers are not
 * checked at ingest; 2.5 counts as 2, a negative or absurd value is clamped), so that both engines add exactly.
 */
function wholeCount(n: number): number {
  return Number.isFinite(n) ? Math.min(MAX_PER_MEMBER, Math.max(0, Math.floor(n))) : 0;
}

function isOnline(pu: ProjectUserDoc): boolean {
  const presence = pu.presence as { status?: unknown } | undefined;
  return typeof presence === 'object' && presence !== null && presence.status === 'online';
}

function assigned(pu: ProjectUserDoc): number {
  const n = pu.number_assigned_requests;
  return typeof n === 'number' ? wholeCount(n) : 0;
}

/** `after − before`, counter by counter, leaving out the zeros; `into` accumulates several differences. */
export function countsDelta(before: Counts, after: Counts, into: Counts = {}): Counts {
  for (const k of METRIC_COUNTERS) {
    const d = (after[k] ?? 0) - (before[k] ?? 0);
    if (d !== 0) into[k] = (into[k] ?? 0) + d;
  }
  return into;
}

function countOp(delta: Counts): MetricsOp[] {
  for (const k of METRIC_COUNTERS) if ((delta[k] ?? 0) !== 0) return [{ op: 'mxCount', delta }];
  return [];
}

/** The metrics writes of a project_user going from `prev` to `next` (null: absent), under `project`. */
export function memberOps(prev: ProjectUserDoc | null, next: ProjectUserDoc | null, project: ProjectDoc | null): MetricsOp[] {
  return countOp(countsDelta(memberCounts(prev, project), memberCounts(next, project)));
}

/** The metrics writes of the project's settings changing under its members (limits move `busy` and `slots`). */
export function projectOps(members: ProjectUserDoc[], prev: ProjectDoc | null, next: ProjectDoc): MetricsOp[] {
  const delta: Counts = {};
  for (const pu of members) countsDelta(memberCounts(pu, prev), memberCounts(pu, next), delta);
  return countOp(delta);
}

/**
 * The metrics writes of a request going from `prev` to `next` (null: removed), `now` (ms) being when the change is
 * applied: a document time after it counts as now (a clock ahead must not keep an entry in the window for days).
 */
export function requestOps(prev: RequestDoc | null, next: RequestDoc | null, now: number): MetricsOp[] {
  const ops = countOp(countsDelta(requestCounts(prev), requestCounts(next)));
  const id = (next ?? prev)!._id;
  const waitedBefore = waitingSince(prev, now);
  const waitsNow = waitingSince(next, now);
  if (prev && next && prev._id !== next._id) {
    // The same request_id under a new _id: the entry of the old one must not stay behind.
    if (waitedBefore !== null) ops.push({ op: 'mxWait', id: prev._id, at: null });
    if (waitsNow !== null) ops.push({ op: 'mxWait', id, at: waitsNow });
  } else if (waitsNow !== waitedBefore) {
    ops.push({ op: 'mxWait', id, at: waitsNow });
  }
  if (!next) return ops;

  const created = timeIn(next.createdAt, now);
  if (isArrival(next) && !(prev && isArrival(prev)) && !Number.isNaN(created)) ops.push({ op: 'mxArrival', id, at: created });

  const firstResponse = timeIn(stringField(next, 'first_response_at'), now);
  if (!Number.isNaN(firstResponse) && !Number.isNaN(created) && (!prev || prev.first_response_at !== next.first_response_at)) {
    ops.push({ op: 'mxFirstResponse', id, at: firstResponse, responseMs: Math.max(0, firstResponse - created) });
  }

  if (next.status === REQUEST_STATUS.CLOSED && prev?.status !== REQUEST_STATUS.CLOSED) {
    // Tiledesk publishes the closing update before it writes `closed_at`: the update's own time stands in.
    const closed = timeIn(stringField(next, 'closed_at') ?? next.updatedAt, now);
    if (!Number.isNaN(closed)) {
      const start = Number.isNaN(firstResponse) ? created : firstResponse;
      const handleMs = Number.isNaN(start) ? null : Math.max(0, closed - start);
      ops.push({ op: 'mxClosure', id, at: closed, handleMs });
    }
  }
  return ops;
}

/** An arrival is the first version of a request that is neither a preflight nor a draft. */
function isArrival(r: RequestDoc): boolean {
  return r.preflight !== true && r.draft !== true;
}

/** The `createdAt` (ms) of a request that waits (open and unassigned), null otherwise or when it has none. */
function waitingSince(r: RequestDoc | null, now: number): number | null {
  if (!r || !isListed(r) || r.status !== REQUEST_STATUS.UNASSIGNED) return null;
  const t = timeIn(r.createdAt, now);
  return Number.isNaN(t) ? null : t;
}

/** 2000-01-01: a document time before it is taken as unreadable (no helpdesk chat is that old; 0 is a missing date). */
const EARLIEST = Date.UTC(2000, 0, 1);

/** A document time (ms) as the metrics use it: NaN when unreadable or before 2000, `now` when later than now. */
function timeIn(iso: string | undefined, now: number): number {
  const t = timeOf(iso);
  if (Number.isNaN(t) || t < EARLIEST) return Number.NaN;
  return Math.min(t, now);
}

function stringField(r: RequestDoc, name: string): string | undefined {
  const v = r[name];
  return typeof v === 'string' ? v : undefined;
}
