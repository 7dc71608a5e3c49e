import type { MemberProjects } from '../../analytics/metrics-shape';

/** The HTTP side of the page: `GET /v1/me/projects` with the same token as the socket. */

export type ProjectsAnswer =
  | { kind: 'ok'; body: MemberProjects; dateHeader: string | null; receivedAtMs: number }
  | { kind: 'unauthorized' }
  | { kind: 'failed'; message: string };

export async function fetchMyProjects(token: string): Promise<ProjectsAnswer> {
  let res: Response;
  try {
    res = await fetch('/v1/me/projects', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch (err) {
    return { kind: 'failed', message: `the service did not answer (${err instanceof Error ? err.message : String(err)})` };
  }
  if (res.status === 401) return { kind: 'unauthorized' };
  if (!res.ok) return { kind: 'failed', message: `the service answered ${res.status} to GET /v1/me/projects` };
  const body = (await res.json()) as MemberProjects;
  return { kind: 'ok', body, dateHeader: res.headers.get('date'), receivedAtMs: Date.now() };
}
