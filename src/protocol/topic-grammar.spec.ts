import { parseTopic, topics } from './topic-grammar';

describe('parseTopic (protocol.md §3)', () => {
  it.each([
    ['/p1/requests', { kind: 'requests', projectId: 'p1' }],
    ['/p1/requests/support-group-1', { kind: 'request', projectId: 'p1', requestId: 'support-group-1' }],
    ['/p1/requests/support-group-1/messages', { kind: 'messages', projectId: 'p1', requestId: 'support-group-1' }],
    ['/p1/project_users/pu-7', { kind: 'project_user', projectId: 'p1', projectUserId: 'pu-7' }],
    ['/p1/project_users/users/u-7', { kind: 'project_user_by_user', projectId: 'p1', userKey: 'u-7' }],
    ['/p1/events/pu-7', { kind: 'events', projectId: 'p1', projectUserId: 'pu-7' }],
    ['/p1/events/pu-7/typing', { kind: 'events', projectId: 'p1', projectUserId: 'pu-7', name: 'typing' }],
    ['/p1/bots/b-1', { kind: 'bot', projectId: 'p1', botId: 'b-1' }],
    ['/p1/metrics', { kind: 'metrics', projectId: 'p1' }],
  ])('%s is recognised', (topic, expected) => {
    expect(parseTopic(topic)).toEqual(expected);
  });

  it('keeps ids with the characters Tiledesk uses (dashes, dots, colons, uuids)', () => {
    expect(parseTopic('/65c5f1e2a0b1c2d3e4f5a6b7/requests/support-group-65c5f-0d2c.4e:x/messages')).toEqual({
      kind: 'messages',
      projectId: '65c5f1e2a0b1c2d3e4f5a6b7',
      requestId: 'support-group-65c5f-0d2c.4e:x',
    });
    expect(parseTopic('/p1/project_users/users/2b6f3a1e-9c1d-4f7a-8b2e-0d3c4e5f6a7b')).toEqual({
      kind: 'project_user_by_user',
      projectId: 'p1',
      userKey: '2b6f3a1e-9c1d-4f7a-8b2e-0d3c4e5f6a7b',
    });
  });

  it.each([
    ['', 'empty'],
    ['/', 'only a slash'],
    ['p1/requests', 'no leading slash'],
    ['/p1', 'project only'],
    ['/p1/requests/', 'trailing slash'],
    ['/p1/bots/b-1/', 'trailing slash after a bot'],
    ['//requests', 'empty project segment'],
    ['/p1//requests', 'empty middle segment'],
    ['/p1/requests//messages', 'empty request id'],
    ['/p1/foo/x', 'unknown collection'],
    ['/p1/foo', 'unknown collection without id'],
    ['/p1/requests/r1/other', 'unknown request sub-collection'],
    ['/p1/requests/r1/messages/m1', 'extra segment after messages'],
    ['/p1/project_users', 'project_users without id'],
    ['/p1/project_users/pu-1/extra', 'project_user with an extra segment'],
    ['/p1/project_users/users/u1/extra', 'project_users/users with an extra segment'],
    ['/p1/events', 'events without project_user'],
    ['/p1/events/pu/name/extra', 'named events with an extra segment'],
    ['/p1/bots', 'bots without id'],
    ['/p1/bots/b1/x', 'bot with an extra segment'],
    ['/p1/metrics/x', 'metrics with an extra segment'],
  ])('%j is unknown (%s)', (topic) => {
    expect(parseTopic(topic)).toBeNull();
  });

  it('refuses absurdly long topics', () => {
    expect(parseTopic(`/p1/requests/${'r'.repeat(2000)}`)).toBeNull();
  });
});

describe('topics builders', () => {
  it('build strings that parse back to the same topic', () => {
    expect(parseTopic(topics.requests('p'))).toEqual({ kind: 'requests', projectId: 'p' });
    expect(parseTopic(topics.request('p', 'r'))).toEqual({ kind: 'request', projectId: 'p', requestId: 'r' });
    expect(parseTopic(topics.messages('p', 'r'))).toEqual({ kind: 'messages', projectId: 'p', requestId: 'r' });
    expect(parseTopic(topics.projectUser('p', 'pu'))).toEqual({ kind: 'project_user', projectId: 'p', projectUserId: 'pu' });
    expect(parseTopic(topics.projectUserByUser('p', 'u'))).toEqual({ kind: 'project_user_by_user', projectId: 'p', userKey: 'u' });
    expect(parseTopic(topics.events('p', 'pu'))).toEqual({ kind: 'events', projectId: 'p', projectUserId: 'pu' });
    expect(parseTopic(topics.namedEvents('p', 'pu', 'n'))).toEqual({ kind: 'events', projectId: 'p', projectUserId: 'pu', name: 'n' });
    expect(parseTopic(topics.bot('p', 'b'))).toEqual({ kind: 'bot', projectId: 'p', botId: 'b' });
  });

  it('produce the exact Tiledesk topic strings', () => {
    expect(topics.requests('p')).toBe('/p/requests');
    expect(topics.messages('p', 'r')).toBe('/p/requests/r/messages');
    expect(topics.projectUserByUser('p', 'u')).toBe('/p/project_users/users/u');
    expect(topics.namedEvents('p', 'pu', 'n')).toBe('/p/events/pu/n');
  });
});
