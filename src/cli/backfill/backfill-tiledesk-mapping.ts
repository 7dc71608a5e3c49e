import { Doc } from '../../domain/documents';
import { isObject } from '../../domain/transforms';
import { checkEnvelope, SourceItem } from './backfill-envelope';

/**
 * What the Tiledesk REST API answers, and the envelopes made of it (pure). Routes and shapes as in
 * Tiledesk/tiledesk-server (routes read at b70caa42, not copied):
 * - `GET /projects/`: the caller's project_users (active, agent roles) with `id_project` populated: the
 *   project documents;
 * - `GET /<P>/project_users/`: the project's agent-type project_users, `id_user` populated, plus `isBusy`;
 * - `GET /<P>/requests?status=100,200,300&page=N&limit=L&sort=_id&direction=1`: `{perPage, count, requests}`,
 *   `page` from 0, `limit` at most 100 (above, Tiledesk falls back to 40), requests populated (`lead`,
 *   `department`, `requester` ...) but without `snapshot.agents`, a field Tiledesk never selects in lists;
 * - `GET /<P>/requests/<request_id>/messages`: every message of the request, oldest first;
 * - `GET /<P>/faq_kb`: the project's bots (lean documents, no `secret`).
 * The documents go to the service unchanged: they are what Tiledesk's own fan-out sends for those types.
 */

/** Open = waiting, assigned or served (ingest.md §3); 50 (temp), 150 (abandoned) and 1000 (closed) are not. */
export const OPEN_STATUSES = [100, 200, 300] as const;
/** Tiledesk's largest page: a larger `limit` makes it fall back to 40. */
export const REQUESTS_PAGE_LIMIT = 100;

/** A response that is not what the route answers (a proxy's HTML page, another API): names the URL. */
export class UnexpectedShapeError extends Error {
  constructor(url: string, expected: string) {
    super(`${url}: expected ${expected} in the answer; is this the Tiledesk API?`);
    this.name = 'UnexpectedShapeError';
  }
}

/** Path of a project's resource, ids escaped. */
export function projectPath(projectId: string, ...rest: string[]): string {
  return `/${[projectId, ...rest].map(encodeURIComponent).join('/')}`;
}

/**
 * The query of one page of open requests. Sorted by `_id` ascending: a unique key, so skip/limit pages
 * neither repeat nor skip a request that keeps its place; requests created meanwhile land at the end.
 */
export function openRequestsQuery(page: number, limit = REQUESTS_PAGE_LIMIT): string {
  const q = new URLSearchParams({ status: OPEN_STATUSES.join(','), page: String(page), limit: String(limit), sort: '_id', direction: '1' });
  return `?${q.toString()}`;
}

export interface RequestsPage {
  perPage: number;
  count: number;
  requests: Doc[];
}

export function parseRequestsPage(body: unknown, url: string): RequestsPage {
  const b = body as { perPage?: unknown; count?: unknown; requests?: unknown } | null;
  if (!isObject(b) || !Array.isArray(b.requests) || typeof b.count !== 'number') {
    throw new UnexpectedShapeError(url, '{perPage, count, requests: [...]}');
  }
  const perPage = typeof b.perPage === 'number' && b.perPage > 0 ? b.perPage : b.requests.length;
  return { perPage, count: b.count, requests: b.requests.filter(isObject) };
}

/** Whether a page is the last one: empty, short, or reaching the count. */
export function isLastPage(page: number, p: RequestsPage): boolean {
  return p.requests.length === 0 || p.requests.length < p.perPage || (page + 1) * p.perPage >= p.count;
}

export function parseArray(body: unknown, url: string, what: string): Doc[] {
  if (!Array.isArray(body)) throw new UnexpectedShapeError(url, `an array of ${what}`);
  return body.filter(isObject);
}

/**
 * The projects of `GET /projects/` (one per membership; a membership whose project is gone, `id_project`
 * null after populate, is skipped), in the order Tiledesk lists them.
 */
export function projectsOfMemberships(memberships: Doc[]): Doc[] {
  const seen = new Set<string>();
  const out: Doc[] = [];
  for (const m of memberships) {
    const p = m.id_project;
    if (!isObject(p) || typeof p._id !== 'string' || seen.has(p._id)) continue;
    seen.add(p._id);
    out.push(p);
  }
  return out;
}

/** Only an enabled project (status 100) has members, requests and bots worth loading: others are refused anyway. */
export function isEnabledProject(project: Doc): boolean {
  return project.status === undefined || project.status === 100;
}

export function projectItem(project: Doc, origin: string): SourceItem {
  return checkEnvelope({ type: 'project.update', data: project }, origin);
}

export function projectUserItem(pu: Doc, origin: string): SourceItem {
  return checkEnvelope({ type: 'project_user.update', data: pu }, origin);
}

export function requestItem(request: Doc, origin: string): SourceItem {
  return checkEnvelope({ type: 'request.update', data: request }, origin);
}

/** The newest `limit` messages of a request (Tiledesk lists them oldest first), oldest first. */
export function newestMessages(messages: Doc[], limit: number): Doc[] {
  if (limit <= 0) return [];
  const sorted = [...messages].sort((a, b) => timeOf(a.createdAt) - timeOf(b.createdAt));
  return sorted.slice(-limit);
}

export function messageItem(message: Doc, origin: string): SourceItem {
  return checkEnvelope({ type: 'message.create', data: message }, origin);
}

export function botItem(bot: Doc, origin: string): SourceItem {
  return checkEnvelope({ type: 'faqbot.update', data: bot }, origin);
}

/** The `request_id` of a request document (the messages route's key), when it has one. */
export function requestIdOf(request: Doc): string | undefined {
  return typeof request.request_id === 'string' && request.request_id !== '' ? request.request_id : undefined;
}

function timeOf(v: unknown): number {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(t) ? 0 : t;
}
