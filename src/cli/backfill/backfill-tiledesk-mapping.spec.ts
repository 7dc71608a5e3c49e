import {
  isEnabledProject,
  isLastPage,
  messageItem,
  newestMessages,
  openRequestsQuery,
  parseArray,
  parseRequestsPage,
  projectPath,
  projectsOfMemberships,
  projectUserItem,
  requestItem,
  UnexpectedShapeError,
} from './backfill-tiledesk-mapping';

// Shapes as Tiledesk's REST API answers them (tiledesk-realtime-notes.md §4).
const project = {
  _id: '65a000000000000000000001',
  name: 'Support',
  status: 100,
  settings: { max_agent_assigned_chat: 2 },
  updatedAt: '2026-01-02T10:00:00.000Z',
  __v: 0,
};
const membership = {
  _id: '65a0000000000000000000a1',
  id_project: project,
  id_user: '65a0000000000000000000u1',
  role: 'owner',
  roleType: 1,
  status: 'active',
};

describe('the Tiledesk projects list', () => {
  it('gives each project once, skipping memberships whose project is gone', () => {
    const other = { ...project, _id: '65a000000000000000000002', status: 0 };
    expect(
      projectsOfMemberships([
        membership,
        { ...membership, _id: 'x' },
        { ...membership, id_project: null },
        { ...membership, id_project: other },
      ]),
    ).toEqual([project, other]);
    expect([project, { ...project, status: 0 }, { _id: 'p' }].map(isEnabledProject)).toEqual([true, false, true]);
  });
});

describe('the open requests pages', () => {
  it('asks for open statuses, the largest page Tiledesk allows, in _id order', () => {
    const q = new URLSearchParams(openRequestsQuery(3).slice(1));
    expect(Object.fromEntries(q)).toEqual({ status: '100,200,300', page: '3', limit: '100', sort: '_id', direction: '1' });
    expect(projectPath('p 1', 'requests', 'support-group-p/1', 'messages')).toBe('/p%201/requests/support-group-p%2F1/messages');
  });

  it('reads {perPage, count, requests} and knows the last page', () => {
    const page = parseRequestsPage({ perPage: 2, count: 5, requests: [{ _id: 'a' }, { _id: 'b' }] }, 'u');
    expect(page).toEqual({ perPage: 2, count: 5, requests: [{ _id: 'a' }, { _id: 'b' }] });
    expect(isLastPage(0, page)).toBe(false);
    expect(isLastPage(1, page)).toBe(false);
    expect(isLastPage(2, { ...page, requests: [{ _id: 'e' }] })).toBe(true);
    expect(isLastPage(1, { ...page, count: 4 })).toBe(true);
    expect(isLastPage(0, { ...page, requests: [] })).toBe(true);
  });

  it('refuses an answer of another shape, naming the URL', () => {
    expect(() => parseRequestsPage([{ _id: 'a' }], 'http://td/p/requests')).toThrow(
      new UnexpectedShapeError('http://td/p/requests', '{perPage, count, requests: [...]}'),
    );
    expect(() => parseArray({ html: true }, 'http://td/projects/', 'project_users')).toThrow(
      'http://td/projects/: expected an array of project_users',
    );
  });
});

describe('envelopes of Tiledesk documents', () => {
  it('sends a project user with its populated user as project_user.update', () => {
    const pu = {
      _id: '65a0000000000000000000a2',
      id_project: project._id,
      id_user: { _id: '65a0000000000000000000u2', firstname: 'Ada', lastname: 'L', email: 'ada@example.test' },
      role: 'agent',
      roleType: 1,
      status: 'active',
      user_available: true,
      number_assigned_requests: 1,
      isBusy: false,
      updatedAt: '2026-01-02T10:00:00.000Z',
    };
    expect(projectUserItem(pu, 'o')).toEqual({
      ok: true,
      type: 'project_user.update',
      origin: 'o',
      envelope: { type: 'project_user.update', data: pu },
    });
  });

  it('sends a populated request unchanged as request.update, and names a document the service would refuse', () => {
    const request = {
      _id: '65a0000000000000000000r1',
      request_id: 'support-group-65a000000000000000000001-abc',
      id_project: project._id,
      status: 200,
      participants: ['65a0000000000000000000u2'],
      lead: { _id: 'l1', fullname: 'Visitor', email: 'v@example.test' },
      requester: { _id: 'pu-guest', id_user: null, uuid_user: 'guest-1', role: 'guest' },
      snapshot: { lead: { _id: 'l1' }, requester: { role: 'guest' } },
      updatedAt: '2026-01-02T10:00:00.000Z',
    };
    expect(requestItem(request, 'o')).toEqual(expect.objectContaining({ ok: true, envelope: { type: 'request.update', data: request } }));
    expect(requestItem({ ...request, status: 'open' }, 'GET http://td/x')).toEqual({
      ok: false,
      type: 'request.update',
      origin: 'GET http://td/x',
      problem: 'GET http://td/x: request.update: data.status: must be a number',
    });
  });

  it('keeps the newest messages, oldest first', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const messages = [3, 1, 2, 4].map((s) => ({ _id: `m${s}`, createdAt: at(s) }));
    expect(newestMessages(messages, 2).map((m) => m._id)).toEqual(['m3', 'm4']);
    expect(newestMessages(messages, 300).map((m) => m._id)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(newestMessages(messages, 0)).toEqual([]);
    const message = { _id: 'm1', id_project: project._id, recipient: 'support-group-x', sender: 'u', text: 'hi', createdAt: at(1) };
    expect(messageItem(message, 'o')).toEqual(expect.objectContaining({ ok: true, type: 'message.create' }));
  });
});
