import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';

/**
 * A fake Tiledesk REST server (node:http on port 0) answering the routes the backfill reads, with the
 * routes, query parameters, auth scheme and response shapes of Tiledesk/tiledesk-server (read, not
 * copied): `Authorization: JWT <token>` verified with the secret (401 `Unauthorized` otherwise, as
 * passport does); `GET /projects/` = the caller's active agent-type project_users with `id_project`
 * populated, newest project first; `GET /<P>/project_users/` = agent-type, untrashed project_users with
 * `id_user` populated and `isBusy`; `GET /<P>/requests` = `{perPage, count, requests}` with `page` from 0,
 * `limit` (over 100 falls back to 40), `status` as a comma list (default: not closed, temp or abandoned),
 * `preflight` false, `sort`/`direction`, an owner's or admin's view, and `snapshot.agents` left out (it is
 * `select: false`); `GET /<P>/requests/<request_id>/messages` = every message, oldest first;
 * `GET /<P>/faq_kb` = untrashed bots except `identity` ones, without `secret`.
 * Faults can be scheduled (a 429 with Retry-After, a 503) to prove the client's retries; every call is
 * logged with its time and status.
 */

type Doc = Record<string, any>;

export interface FakeTiledeskProject {
  project: Doc;
  /** project_users with `id_user` as a plain id (populated from `users` when listed). */
  projectUsers: Doc[];
  /** Stored requests, every status, `snapshot.agents` included as in the database. */
  requests: Doc[];
  /** Messages by recipient (a request's `request_id`). */
  messages: Record<string, Doc[]>;
  /** Stored bots, `secret` included as in the database. */
  bots: Doc[];
}

export interface FakeTiledeskData {
  users: Doc[];
  projects: FakeTiledeskProject[];
}

export interface FakeCall {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  status: number;
  at: number;
}

interface Fault {
  match: (path: string, query: URLSearchParams) => boolean;
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface FakeTiledesk {
  url: string;
  calls: FakeCall[];
  /** The next request matching `match` is answered with `status` (and headers) instead, once. */
  failOnce(match: (path: string, query: URLSearchParams) => boolean, status: number, headers?: Record<string, string>): void;
  /** Faults scheduled and not yet used. */
  pendingFaults(): number;
  close(): Promise<void>;
}

const ROLE_RANK = ['guest', 'user', 'teammate', 'agent', 'supervisor', 'admin', 'owner'];

export async function startFakeTiledesk(data: FakeTiledeskData, secret: string): Promise<FakeTiledesk> {
  const calls: FakeCall[] = [];
  const faults: Fault[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const call: FakeCall = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
      status: 0,
      at: Date.now(),
    };
    calls.push(call);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8';
      res.writeHead(status, { 'content-type': type, ...headers }).end(text);
    };
    const fault = faults.findIndex((f) => f.match(url.pathname, url.searchParams));
    if (fault >= 0) {
      const f = faults.splice(fault, 1)[0]!;
      return send(f.status, f.body, f.headers);
    }
    route(data, secret, req, url, send);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failOnce(match, status, headers = {}) {
      const body = status === 429 ? 'Too Many Requests' : JSON.stringify({ success: false, msg: `fault ${status}` });
      faults.push({ match, status, headers, body });
    },
    pendingFaults: () => faults.length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Send = (status: number, body: unknown, headers?: Record<string, string>) => void;

function route(data: FakeTiledeskData, secret: string, req: IncomingMessage, url: URL, send: Send): void {
  if (req.method !== 'GET') return send(404, `Cannot ${req.method} ${url.pathname}`);
  // passport-jwt with fromAuthHeaderWithScheme('jwt'): the scheme is matched case-insensitively.
  const m = /^(\S+)\s+(\S+)$/.exec(req.headers.authorization ?? '');
  let userId: string | undefined;
  if (m && m[1]!.toLowerCase() === 'jwt') {
    try {
      userId = (jwt.verify(m[2]!, secret) as { _id?: string })._id;
    } catch {
      userId = undefined;
    }
  }
  const user = data.users.find((u) => u._id === userId);
  if (!user) return send(401, 'Unauthorized');

  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 1 && parts[0] === 'projects') {
    const memberships = data.projects
      .flatMap((p) =>
        p.projectUsers.filter((pu) => pu.id_user === user._id && pu.roleType === 1 && pu.status === 'active').map((pu) => ({ pu, p })),
      )
      .sort((a, b) => String(b.p.project.updatedAt).localeCompare(String(a.p.project.updatedAt)))
      .map(({ pu, p }) => ({ ...pu, id: pu._id, id_project: p.project }));
    return send(200, memberships);
  }
  const p = data.projects.find((x) => x.project._id === parts[0]);
  const me = p?.projectUsers.find((pu) => pu.id_user === user._id && pu.status === 'active');
  if (!p || !me) return send(403, { success: false, msg: 'you dont belong to the project.' });
  if (ROLE_RANK.indexOf(me.role as string) < ROLE_RANK.indexOf('agent'))
    return send(403, { success: false, msg: 'you dont have the required role.' });
  const [, resource, requestId, sub] = parts;

  if (resource === 'project_users' && parts.length === 2) {
    const max = p.project.settings?.max_agent_assigned_chat;
    return send(
      200,
      p.projectUsers
        .filter((pu) => pu.roleType === 1 && pu.trashed !== true)
        .map((pu) => ({
          ...pu,
          id: pu._id,
          id_user: data.users.find((u) => u._id === pu.id_user) ?? pu.id_user,
          isBusy: typeof max === 'number' && max > -1 && (pu.number_assigned_requests ?? 0) >= max,
        })),
    );
  }
  if (resource === 'requests' && parts.length === 2) {
    let limit = url.searchParams.has('limit') ? parseInt(url.searchParams.get('limit')!, 10) : 40;
    if (limit > 100) limit = 40;
    const page = Number(url.searchParams.get('page') ?? 0);
    const statusParam = url.searchParams.get('status');
    const statuses = statusParam ? statusParam.split(',').map(Number) : null;
    const sortField = url.searchParams.get('sort') ?? 'createdAt';
    const direction = Number(url.searchParams.get('direction') ?? -1);
    const matching = p.requests
      .filter((r) => (statuses ? statuses.includes(r.status) : r.status < 1000 && r.status !== 50 && r.status !== 150))
      .filter((r) => r.preflight === false)
      .sort((a, b) => direction * String(a[sortField]).localeCompare(String(b[sortField])));
    const requests = matching.slice(page * limit, (page + 1) * limit).map(withoutAgents);
    return send(200, { perPage: limit, count: matching.length, requests });
  }
  if (resource === 'requests' && sub === 'messages' && parts.length === 4) {
    const messages = (p.messages[requestId!] ?? []).slice().sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)));
    return send(200, messages);
  }
  if (resource === 'faq_kb' && parts.length === 2) {
    return send(
      200,
      p.bots
        .filter((b) => b.trashed !== true && b.type !== 'identity')
        .map((b) => {
          const copy = { ...b };
          delete copy.secret;
          return copy;
        }),
    );
  }
  return send(404, `Cannot GET ${url.pathname}`);
}

/** A request as a Tiledesk list answers it: `snapshot.agents` is `select: false`. */
function withoutAgents(r: Doc): Doc {
  if (!r.snapshot || typeof r.snapshot !== 'object') return r;
  const snapshot = { ...r.snapshot };
  delete snapshot.agents;
  return { ...r, snapshot };
}
