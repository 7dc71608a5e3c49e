/**
 * The topic shapes of protocol.md §3. A topic that matches none of them is unknown (the original treated
 * any other shape as a request id).
 */

export type Topic =
  | { kind: 'requests'; projectId: string }
  | { kind: 'request'; projectId: string; requestId: string }
  | { kind: 'messages'; projectId: string; requestId: string }
  | { kind: 'project_user'; projectId: string; projectUserId: string }
  | { kind: 'project_user_by_user'; projectId: string; userKey: string }
  | { kind: 'events'; projectId: string; projectUserId: string; name?: string }
  | { kind: 'bot'; projectId: string; botId: string }
  | { kind: 'metrics'; projectId: string };

export type TopicKind = Topic['kind'];

export function parseTopic(topic: string): Topic | null {
  if (topic.length === 0 || topic.length > 1024 || topic[0] !== '/') return null;
  const s = topic.split('/');
  // s[0] is the empty string before the leading slash; every other segment must be non-empty.
  for (let i = 1; i < s.length; i++) if (s[i] === '') return null;
  const projectId = s[1];
  if (projectId === undefined) return null;
  const n = s.length - 1;
  switch (s[2]) {
    case 'requests':
      if (n === 2) return { kind: 'requests', projectId };
      if (n === 3) return { kind: 'request', projectId, requestId: s[3]! };
      if (n === 4 && s[4] === 'messages') return { kind: 'messages', projectId, requestId: s[3]! };
      return null;
    case 'project_users':
      if (n === 3) return { kind: 'project_user', projectId, projectUserId: s[3]! };
      if (n === 4 && s[3] === 'users') return { kind: 'project_user_by_user', projectId, userKey: s[4]! };
      return null;
    case 'events':
      if (n === 3) return { kind: 'events', projectId, projectUserId: s[3]! };
      if (n === 4) return { kind: 'events', projectId, projectUserId: s[3]!, name: s[4]! };
      return null;
    case 'bots':
      if (n === 3) return { kind: 'bot', projectId, botId: s[3]! };
      return null;
    case 'metrics':
      return n === 2 ? { kind: 'metrics', projectId } : null;
    default:
      return null;
  }
}

/** The canonical topic strings a change is published on. */
export const topics = {
  requests: (p: string) => `/${p}/requests`,
  request: (p: string, r: string) => `/${p}/requests/${r}`,
  messages: (p: string, r: string) => `/${p}/requests/${r}/messages`,
  projectUser: (p: string, pu: string) => `/${p}/project_users/${pu}`,
  projectUserByUser: (p: string, u: string) => `/${p}/project_users/users/${u}`,
  events: (p: string, pu: string) => `/${p}/events/${pu}`,
  namedEvents: (p: string, pu: string, name: string) => `/${p}/events/${pu}/${name}`,
  bot: (p: string, b: string) => `/${p}/bots/${b}`,
  metrics: (p: string) => `/${p}/metrics`,
};
