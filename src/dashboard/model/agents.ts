import type { ProjectUserDoc } from './documents';
import { agentsOf, RequestMap } from './request-list';

/**
 * The agents panel. protocol.md has no "all members of a project" topic: the page learns of the agents the
 * requests it sees name (`snapshot.agents[].id_user`, human participants) and follows each through T5
 * (`/P/project_users/users/<U>`, open to any member). An agent with no open request the page has seen is not
 * listed; the metrics tiles count every member.
 */

export function userIdOf(pu: ProjectUserDoc): string {
  return typeof pu.id_user === 'string' ? pu.id_user : pu.id_user._id;
}

/** The user's name when the project_user carries the populated user, else its user id. */
export function agentName(pu: ProjectUserDoc | undefined, userId: string): string {
  if (pu !== undefined && typeof pu.id_user === 'object') {
    const name = [pu.id_user.firstname, pu.id_user.lastname].filter((s) => typeof s === 'string' && s !== '').join(' ');
    if (name !== '') return name;
  }
  return userId;
}

/** At most this many agents are followed, so that one page stays far from MAX_SUBSCRIPTIONS_PER_CONN. */
export const MAX_FOLLOWED_AGENTS = 200;

/** The user ids the requests name, in a stable order (first seen first), capped. */
export function agentIdsIn(list: RequestMap, already: readonly string[] = [], max = MAX_FOLLOWED_AGENTS): string[] {
  const ids = new Set(already);
  for (const r of list.values()) {
    for (const id of agentsOf(r)) {
      if (ids.size >= max) return [...ids];
      ids.add(id);
    }
  }
  return [...ids];
}

/** available / busy / away, as analytics.md counts them: busy = available and `isBusy`; away = not available. */
export type AgentStatus = 'available' | 'busy' | 'away';

export function agentStatus(pu: ProjectUserDoc): AgentStatus {
  if (pu.user_available !== true) return 'away';
  return pu.isBusy === true ? 'busy' : 'available';
}

export interface AgentLoad {
  used: number;
  limit: number;
  /** True when the limit is not the agent's own `max_assigned_chat` but the project average or an assumption. */
  limitEstimated: boolean;
  /** used / limit, capped at 1 (for the bar). */
  ratio: number;
}

/**
 * The load bar: assigned requests against the agent's chat limit. The page knows the agent's own
 * `max_assigned_chat`, not the project's `max_agent_assigned_chat` (no topic carries the project); without the
 * former it uses `fallbackLimit` (slots per available agent from the metrics, else 3).
 */
export function agentLoad(pu: ProjectUserDoc, fallbackLimit: number): AgentLoad {
  const used = Math.max(0, pu.number_assigned_requests ?? 0);
  const own = pu.max_assigned_chat;
  const hasOwn = typeof own === 'number' && own > 0;
  const limit = hasOwn ? own : Math.max(1, Math.round(fallbackLimit));
  return { used, limit, limitEstimated: !hasOwn, ratio: Math.min(1, used / limit) };
}

export function isOnline(pu: ProjectUserDoc): boolean {
  return pu.presence?.status === 'online';
}
