import { isProjectEnabled, mayReadMetrics, viewerOf } from '../access/member-access';
import { ProjectDoc, ProjectUserDoc } from '../domain/documents';
import { MemberProject } from './metrics-shape';

/**
 * A project as `GET /v1/me/projects` lists it for a user, or null when the user is not an active agent-type
 * member there or the project is disabled (every topic of it would be refused).
 */
export function memberProjectOf(
  projectId: string,
  project: ProjectDoc | null,
  member: ProjectUserDoc | null,
  userId: string,
): MemberProject | null {
  if (!isProjectEnabled(project) || !member || !viewerOf(member, userId)) return null;
  const name = project?.name;
  return {
    project_id: projectId,
    name: typeof name === 'string' ? name : null,
    role: member.role,
    project_user_id: member._id,
    analytics: mayReadMetrics(member),
  };
}

/** Projects in a stable order: by name (unnamed last), then by id. */
export function sortMemberProjects(list: MemberProject[]): MemberProject[] {
  return list.sort((a, b) => {
    if (a.name !== b.name) {
      if (a.name === null) return 1;
      if (b.name === null) return -1;
      return a.name < b.name ? -1 : 1;
    }
    return a.project_id < b.project_id ? -1 : a.project_id > b.project_id ? 1 : 0;
  });
}
