import { ProjectDoc, ProjectUserDoc, RequestDoc, refId } from '../domain/documents';

/**
 * Who may see what (protocol.md §3), as pure functions over documents. Nothing here knows about
 * sockets, stores or Nest: the subscribe path and the delivery path both call these.
 */

export const AGENT_ROLES: ReadonlySet<string> = new Set(['owner', 'admin', 'supervisor', 'agent']);
const USER_ROLES: ReadonlySet<string> = new Set(['user', 'guest']);

/** How much of a project's requests a member sees. */
export type Scope = 'all' | 'group' | 'participants';

export interface Viewer {
  userId: string;
  scope: Scope;
  role: string;
  permissions: ReadonlySet<string>;
}

export function isProjectEnabled(project: ProjectDoc | null | undefined): boolean {
  return project?.status === undefined || project.status === 100;
}

export function isAgentType(pu: ProjectUserDoc): boolean {
  if (AGENT_ROLES.has(pu.role)) return true;
  return !USER_ROLES.has(pu.role) && pu.roleType === 1;
}

export function isActiveMember(pu: ProjectUserDoc | null | undefined): pu is ProjectUserDoc {
  return !!pu && pu.status === 'active' && isAgentType(pu);
}

export function memberUserId(pu: ProjectUserDoc): string | undefined {
  return refId(pu.id_user);
}

/**
 * A project_user reduced to what the rules of this file read (`_id` to tell it apart, `id_user` as the user id,
 * role, roleType, status, permissions, rolePermissions): every rule gives the same answer for it as for the
 * whole document. A replica's project view keeps one per member, thousands for a big project.
 */
export function accessFacts(pu: ProjectUserDoc): ProjectUserDoc {
  const facts: ProjectUserDoc = { _id: pu._id, id_project: pu.id_project, role: pu.role, status: pu.status };
  const userId = memberUserId(pu);
  if (userId !== undefined) facts.id_user = userId;
  if (pu.roleType !== undefined) facts.roleType = pu.roleType;
  if (pu.permissions !== undefined) facts.permissions = pu.permissions;
  if (pu.rolePermissions !== undefined) facts.rolePermissions = pu.rolePermissions;
  return facts;
}

/** Permissions first; the role decides only when the member has none (own plus role permissions). */
export function scopeOf(pu: ProjectUserDoc): Scope {
  const perms = permissionsOf(pu);
  if (perms.size > 0) {
    if (perms.has('request_read_all')) return 'all';
    if (perms.has('request_read_group')) return 'group';
    return 'participants';
  }
  if (pu.role === 'owner' || pu.role === 'admin') return 'all';
  if (pu.role === 'agent') return 'group';
  return 'participants';
}

export function permissionsOf(pu: ProjectUserDoc): Set<string> {
  const perms = new Set<string>();
  for (const p of pu.permissions ?? []) perms.add(p);
  for (const p of pu.rolePermissions ?? []) perms.add(p);
  return perms;
}

/** The viewer a project_user is, or null when it is not an active agent-type member. */
export function viewerOf(pu: ProjectUserDoc | null | undefined, userId: string): Viewer | null {
  if (!isActiveMember(pu)) return null;
  return { userId, scope: scopeOf(pu), role: pu.role, permissions: permissionsOf(pu) };
}

/** A string that changes exactly when what the member may see changes. */
export function viewerKey(pu: ProjectUserDoc | null | undefined): string | null {
  return isActiveMember(pu) ? scopeOf(pu) : null;
}

/** The facts about a request that visibility depends on. */
export interface RequestAudience {
  participants: readonly string[];
  agents: readonly string[];
}

export function audienceOf(r: RequestDoc): RequestAudience {
  return { participants: r.participants, agents: r.snapshot.agents.map((a) => a.id_user) };
}

export function canSee(scope: Scope, userId: string, r: RequestAudience): boolean {
  if (scope === 'all') return true;
  if (r.participants.includes(userId)) return true;
  return scope === 'group' && r.agents.includes(userId);
}

export function canSeeRequest(viewer: Pick<Viewer, 'scope' | 'userId'>, r: RequestDoc): boolean {
  if (viewer.scope === 'all') return true;
  if (r.participants.includes(viewer.userId)) return true;
  return viewer.scope === 'group' && r.snapshot.agents.some((a) => a.id_user === viewer.userId);
}

/** Every user id whose visibility of the request may depend on it (for indexing restricted viewers). */
export function audienceUserIds(r: RequestDoc): string[] {
  const ids = new Set<string>(r.participants);
  for (const a of r.snapshot.agents) ids.add(a.id_user);
  return [...ids];
}

/** T8 `/P/metrics` (protocol.md §3): an active member whose role is owner, admin or supervisor, or who has permission analytics_read. */
export function mayReadMetrics(pu: ProjectUserDoc | null | undefined): boolean {
  if (!isActiveMember(pu)) return false;
  return pu.role === 'owner' || pu.role === 'admin' || pu.role === 'supervisor' || permissionsOf(pu).has('analytics_read');
}
