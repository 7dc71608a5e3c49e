import * as f from '../../test/helpers/factories';
import { BotDoc, EventDoc, MessageDoc, ProjectDoc, ProjectUserDoc, RequestDoc } from '../domain/documents';
import { toWireRequest } from '../domain/transforms';
import { Topic, parseTopic } from '../protocol/topic-grammar';
import { TopicRead } from '../store/read-model';
import { decideSubscribe } from './subscribe-decision';

const P = 'p1';
const project = f.project(P, { settings: { max_agent_assigned_chat: 2 } }) as ProjectDoc;
const member = (user: string, role: string, overrides: Record<string, unknown> = {}) =>
  f.projectUser(P, user, role, overrides) as ProjectUserDoc;
const req = (id: string, overrides: Record<string, unknown> = {}): RequestDoc => toWireRequest(f.request(P, id, overrides));

function topic(t: string): Topic {
  const parsed = parseTopic(t);
  if (!parsed) throw new Error(`bad topic in test: ${t}`);
  return parsed;
}

function read(extra: Partial<TopicRead> & { member: ProjectUserDoc | null }): TopicRead {
  return { seq: 7, project, ...extra };
}

describe('decideSubscribe: membership gate (every topic)', () => {
  const everyTopic: Array<[string, Partial<TopicRead>]> = [
    ['/p1/requests', { requests: [] }],
    ['/p1/requests/r1', { request: req('r1', { participants: ['u1'] }) }],
    ['/p1/requests/r1/messages', { request: req('r1', { participants: ['u1'] }), messages: [] }],
    ['/p1/project_users/pu-p1-u1', { target: member('u1', 'agent') }],
    ['/p1/project_users/users/u2', { target: member('u2', 'agent') }],
    ['/p1/events/pu-p1-u2', { events: [] }],
    ['/p1/events/pu-p1-u2/typing', { events: [] }],
    ['/p1/bots/b1', { bot: f.bot(P, 'b1') }],
  ];

  it.each(everyTopic)('%s is allowed to an active agent', (t, extra) => {
    const d = decideSubscribe(topic(t), 'u1', read({ member: member('u1', 'agent', { permissions: ['request_read_all'] }), ...extra }));
    expect(d.ok).toBe(true);
  });

  it.each(everyTopic)('%s is forbidden to a non-member', (t, extra) => {
    expect(decideSubscribe(topic(t), 'u1', read({ member: null, ...extra }))).toMatchObject({ ok: false, code: 'forbidden' });
  });

  it.each(everyTopic)('%s is forbidden to a disabled owner', (t, extra) => {
    const d = decideSubscribe(topic(t), 'u1', read({ member: member('u1', 'owner', { status: 'disabled' }), ...extra }));
    expect(d).toMatchObject({ ok: false, code: 'forbidden' });
  });

  it.each(everyTopic)('%s is forbidden to a project user of role "user" (a visitor)', (t, extra) => {
    const d = decideSubscribe(topic(t), 'u1', read({ member: member('u1', 'user'), ...extra }));
    expect(d).toMatchObject({ ok: false, code: 'forbidden' });
  });

  it.each(everyTopic)('%s is forbidden to an owner of a disabled project', (t, extra) => {
    const d = decideSubscribe(topic(t), 'u1', {
      seq: 1,
      project: { ...project, status: 0 },
      member: member('u1', 'owner'),
      ...extra,
    });
    expect(d).toMatchObject({ ok: false, code: 'forbidden' });
  });
});

describe('decideSubscribe: T1 /P/requests', () => {
  it('answers with the requests the read gave (the read model filters them per viewer)', () => {
    const requests = [req('r2', { participants: ['u1'] }), req('r1', { participants: ['u1'] })];
    const d = decideSubscribe(topic('/p1/requests'), 'u1', read({ member: member('u1', 'supervisor'), requests }));
    expect(d).toMatchObject({ ok: true, snapshot: requests });
  });

  it('an empty list is an empty array, never null', () => {
    const d = decideSubscribe(topic('/p1/requests'), 'u1', read({ member: member('u1', 'owner') }));
    expect(d).toMatchObject({ ok: true, snapshot: [] });
  });

  it('reports the viewer with its scope', () => {
    const d = decideSubscribe(topic('/p1/requests'), 'u1', read({ member: member('u1', 'agent'), requests: [] }));
    expect(d.ok && d.viewer).toMatchObject({ userId: 'u1', scope: 'group', role: 'agent' });
  });
});

describe('decideSubscribe: T2 /P/requests/R and T3 /P/requests/R/messages', () => {
  const msgs = [f.message(P, 'r1') as MessageDoc, f.message(P, 'r1') as MessageDoc];

  it('unknown request: not_found', () => {
    expect(decideSubscribe(topic('/p1/requests/r9'), 'u1', read({ member: member('u1', 'owner'), request: null }))).toMatchObject({
      ok: false,
      code: 'not_found',
    });
    expect(
      decideSubscribe(topic('/p1/requests/r9/messages'), 'u1', read({ member: member('u1', 'owner'), request: null, messages: [] })),
    ).toMatchObject({ ok: false, code: 'not_found' });
  });

  it('a non-member gets forbidden, not not_found, for an unknown request (no probing of ids)', () => {
    expect(decideSubscribe(topic('/p1/requests/r9'), 'u1', read({ member: null, request: null }))).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
  });

  it('owner sees any request: snapshot is the request object, with its audience', () => {
    const r = req('r1', { participants: ['u2'], agents: ['u3'] });
    const d = decideSubscribe(topic('/p1/requests/r1'), 'u1', read({ member: member('u1', 'owner'), request: r }));
    expect(d).toMatchObject({ ok: true, snapshot: r, audience: { participants: ['u2'], agents: ['u3'] } });
  });

  it('messages snapshot is the message array the read gave', () => {
    const r = req('r1', { participants: ['u1'] });
    const d = decideSubscribe(topic('/p1/requests/r1/messages'), 'u1', read({ member: member('u1', 'agent'), request: r, messages: msgs }));
    expect(d).toMatchObject({ ok: true, snapshot: msgs });
  });

  it('messages snapshot without stored messages is an empty array', () => {
    const r = req('r1', { participants: ['u1'] });
    const d = decideSubscribe(topic('/p1/requests/r1/messages'), 'u1', read({ member: member('u1', 'agent'), request: r }));
    expect(d).toMatchObject({ ok: true, snapshot: [] });
  });

  it('an agent sees a request assigned to them (snapshot.agents) but not one of another agent', () => {
    const mine = req('r1', { agents: ['u1'] });
    const theirs = req('r2', { agents: ['u2'], participants: ['u2'] });
    expect(decideSubscribe(topic('/p1/requests/r1'), 'u1', read({ member: member('u1', 'agent'), request: mine })).ok).toBe(true);
    expect(decideSubscribe(topic('/p1/requests/r2'), 'u1', read({ member: member('u1', 'agent'), request: theirs }))).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
    expect(
      decideSubscribe(topic('/p1/requests/r2/messages'), 'u1', read({ member: member('u1', 'agent'), request: theirs, messages: msgs })),
    ).toMatchObject({ ok: false, code: 'forbidden' });
  });

  it('a supervisor without permissions sees only requests they participate in', () => {
    const assigned = req('r1', { agents: ['u1'] });
    const participating = req('r2', { participants: ['u1'] });
    const sup = member('u1', 'supervisor');
    expect(decideSubscribe(topic('/p1/requests/r1'), 'u1', read({ member: sup, request: assigned }))).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
    expect(decideSubscribe(topic('/p1/requests/r2'), 'u1', read({ member: sup, request: participating })).ok).toBe(true);
  });

  it('permissions override the role: an owner with only lead_read is limited to participations', () => {
    const r = req('r1', { participants: ['u2'] });
    expect(
      decideSubscribe(topic('/p1/requests/r1'), 'u1', read({ member: member('u1', 'owner', { permissions: ['lead_read'] }), request: r })),
    ).toMatchObject({ ok: false, code: 'forbidden' });
  });

  it('drafts and closed requests are still subscribable on T2 by who can see them', () => {
    const draft = req('r1', { draft: true, participants: ['u1'] });
    const closed = req('r2', { status: 1000, participants: ['u1'] });
    expect(decideSubscribe(topic('/p1/requests/r1'), 'u1', read({ member: member('u1', 'agent'), request: draft })).ok).toBe(true);
    expect(decideSubscribe(topic('/p1/requests/r2'), 'u1', read({ member: member('u1', 'agent'), request: closed })).ok).toBe(true);
  });
});

describe('decideSubscribe: T4 /P/project_users/PU', () => {
  it('own project_user: snapshot is the project_user plus isBusy', () => {
    const me = member('u1', 'agent', { number_assigned_requests: 2 });
    const d = decideSubscribe(topic('/p1/project_users/pu-p1-u1'), 'u1', read({ member: me, target: me }));
    expect(d).toMatchObject({ ok: true, snapshot: { ...me, isBusy: true } });
  });

  it('isBusy false under the project limit', () => {
    const me = member('u1', 'agent', { number_assigned_requests: 1 });
    const d = decideSubscribe(topic('/p1/project_users/pu-p1-u1'), 'u1', read({ member: me, target: me }));
    expect(d).toMatchObject({ ok: true, snapshot: { _id: 'pu-p1-u1', isBusy: false } });
  });

  it("another member's project_user is forbidden, even to an owner", () => {
    const owner = member('u1', 'owner');
    const other = member('u2', 'agent');
    expect(decideSubscribe(topic('/p1/project_users/pu-p1-u2'), 'u1', read({ member: owner, target: other }))).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
  });

  it('an unknown project_user is forbidden', () => {
    expect(decideSubscribe(topic('/p1/project_users/pu-x'), 'u1', read({ member: member('u1', 'owner'), target: null }))).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
  });

  it('a target whose _id is not the one in the topic is forbidden', () => {
    const me = member('u1', 'agent');
    expect(decideSubscribe(topic('/p1/project_users/pu-other'), 'u1', read({ member: me, target: me }))).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
  });

  it('own project_user with a populated id_user object is allowed', () => {
    const me = member('u1', 'agent', { id_user: { _id: 'u1', firstname: 'A', email: 'a@example.test' } });
    expect(decideSubscribe(topic('/p1/project_users/pu-p1-u1'), 'u1', read({ member: me, target: me })).ok).toBe(true);
  });
});

describe('decideSubscribe: T5 /P/project_users/users/U', () => {
  it('any member may watch an active project_user found by user id', () => {
    const target = member('u2', 'agent', { number_assigned_requests: 5 });
    const d = decideSubscribe(topic('/p1/project_users/users/u2'), 'u1', read({ member: member('u1', 'supervisor'), target }));
    expect(d).toMatchObject({ ok: true, snapshot: { ...target, isBusy: true } });
  });

  it('found by uuid_user too (the read resolves it; the decision accepts it)', () => {
    const target = member('u2', 'agent', { id_user: undefined, uuid_user: 'uuid-2' });
    const d = decideSubscribe(topic('/p1/project_users/users/uuid-2'), 'u1', read({ member: member('u1', 'agent'), target }));
    expect(d).toMatchObject({ ok: true, snapshot: { uuid_user: 'uuid-2', isBusy: false } });
  });

  it('no such project_user: not_found', () => {
    expect(
      decideSubscribe(topic('/p1/project_users/users/nobody'), 'u1', read({ member: member('u1', 'agent'), target: null })),
    ).toMatchObject({ ok: false, code: 'not_found' });
  });

  it('a disabled project_user: not_found', () => {
    const target = member('u2', 'agent', { status: 'disabled' });
    expect(decideSubscribe(topic('/p1/project_users/users/u2'), 'u1', read({ member: member('u1', 'agent'), target }))).toMatchObject({
      ok: false,
      code: 'not_found',
    });
  });
});

describe('decideSubscribe: T6 events and T7 bots', () => {
  it('events snapshot is the array the read gave, on both forms', () => {
    const events = [f.event(P, 'pu-p1-u2', 'typing') as EventDoc];
    for (const t of ['/p1/events/pu-p1-u2', '/p1/events/pu-p1-u2/typing']) {
      expect(decideSubscribe(topic(t), 'u1', read({ member: member('u1', 'agent'), events }))).toMatchObject({
        ok: true,
        snapshot: events,
      });
    }
  });

  it('events snapshot without events is an empty array', () => {
    expect(decideSubscribe(topic('/p1/events/pu-p1-u2'), 'u1', read({ member: member('u1', 'agent') }))).toMatchObject({
      ok: true,
      snapshot: [],
    });
  });

  it('bot snapshot is the bot, or null when unknown', () => {
    const b = f.bot(P, 'b1') as BotDoc;
    expect(decideSubscribe(topic('/p1/bots/b1'), 'u1', read({ member: member('u1', 'agent'), bot: b }))).toMatchObject({
      ok: true,
      snapshot: b,
    });
    expect(decideSubscribe(topic('/p1/bots/b2'), 'u1', read({ member: member('u1', 'agent'), bot: null }))).toMatchObject({
      ok: true,
      snapshot: null,
    });
    expect(decideSubscribe(topic('/p1/bots/b2'), 'u1', read({ member: member('u1', 'agent') }))).toMatchObject({
      ok: true,
      snapshot: null,
    });
  });
});
