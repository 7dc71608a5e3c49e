import type { RequestDoc } from './documents';
import { agentsOf, applyRequestFrame, leadName, orderRequests, RequestMap } from './request-list';

const NOW = Date.parse('2026-11-25T10:00:00.000Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();

function req(id: string, over: Partial<RequestDoc> = {}): RequestDoc {
  return { _id: `oid-${id}`, id: `oid-${id}`, request_id: id, status: 200, participants: [], createdAt: ago(60), ...over };
}

const keys = (list: RequestMap) => [...list.keys()];

describe('applyRequestFrame', () => {
  it('takes a CREATE array as the whole list (a snapshot after a subscribe or a reconnect resets it)', () => {
    let list: RequestMap = new Map();
    list = applyRequestFrame(list, 'CREATE', [req('a'), req('b')]);
    expect(keys(list)).toEqual(['a', 'b']);
    list = applyRequestFrame(list, 'CREATE', [req('c')]);
    expect(keys(list)).toEqual(['c']);
  });

  it('upserts on CREATE and UPDATE of one request, and removes it when it is closed', () => {
    let list: RequestMap = applyRequestFrame(new Map(), 'CREATE', []);
    list = applyRequestFrame(list, 'CREATE', req('a', { status: 100 }));
    list = applyRequestFrame(list, 'UPDATE', req('b'));
    list = applyRequestFrame(list, 'UPDATE', req('a', { status: 200, first_text: 'now assigned' }));
    expect(keys(list)).toEqual(['a', 'b']);
    expect(list.get('a')).toMatchObject({ status: 200, first_text: 'now assigned' });
    list = applyRequestFrame(list, 'UPDATE', req('a', { status: 1000 }));
    expect(keys(list)).toEqual(['b']);
  });

  it('removes on DELETE by any of the ids it carries, and leaves the list as it was for an unknown one', () => {
    const list = applyRequestFrame(new Map(), 'CREATE', [req('a'), req('b')]);
    expect(keys(applyRequestFrame(list, 'DELETE', { _id: 'oid-a', id: 'oid-a', request_id: 'a' }))).toEqual(['b']);
    expect(keys(applyRequestFrame(list, 'DELETE', { _id: 'oid-b' }))).toEqual(['a']);
    expect(applyRequestFrame(list, 'DELETE', { request_id: 'zzz' })).toBe(list);
  });

  it('never lists a closed request from a snapshot, and ignores frames without an id', () => {
    const list = applyRequestFrame(new Map(), 'CREATE', [req('a', { status: 1000 }), req('b')]);
    expect(keys(list)).toEqual(['b']);
    expect(applyRequestFrame(list, 'UPDATE', { status: 100 })).toBe(list);
    expect(applyRequestFrame(list, 'UPDATE', null)).toBe(list);
  });
});

describe('leadName', () => {
  it('prefers the populated lead, then the snapshot lead, then userFullname, then the requester id', () => {
    expect(leadName(req('a', { lead: { fullname: 'Ada' }, snapshot: { lead: { fullname: 'Snap' } } }))).toBe('Ada');
    expect(leadName(req('a', { lead: 'lead-1', snapshot: { lead: { fullname: 'Snap' } }, attributes: { userFullname: 'Attr' } }))).toBe(
      'Snap',
    );
    expect(leadName(req('a', { lead: 'lead-1', attributes: { userFullname: 'Attr' } }))).toBe('Attr');
    expect(leadName(req('a', { lead: 'lead-1', requester_id: 'lead-1', attributes: { userFullname: ' ' } }))).toBe('lead-1');
    expect(leadName(req('a', { lead: 'lead-2' }))).toBe('lead-2');
  });
});

describe('agentsOf', () => {
  it('names the snapshot agents, then human participants, never bots, each once', () => {
    expect(agentsOf(req('a', { snapshot: { agents: [{ id_user: 'u1' }] }, participants: ['u1', 'bot_9', 'u2'] }))).toEqual(['u1', 'u2']);
  });
});

describe('orderRequests', () => {
  const names: Record<string, string> = { u1: 'Zoe', u2: 'Adam' };
  const name = (id: string) => names[id] ?? id;

  it('lists waiting requests first, longest wait first, with their wait; then groups by agent name, oldest first', () => {
    const list = applyRequestFrame(new Map(), 'CREATE', [
      req('w-new', { status: 100, createdAt: ago(10) }),
      req('w-old', { status: 100, createdAt: ago(300) }),
      req('z1', { participants: ['u1'], createdAt: ago(50) }),
      req('z2', { participants: ['u1'], createdAt: ago(500), status: 300 }),
      req('a1', { snapshot: { agents: [{ id_user: 'u2' }] }, participants: ['u2'] }),
      req('bot', { participants: ['bot_1'] }),
      req('none', {}),
    ]);
    const ordered = orderRequests(list, NOW, name);
    expect(ordered.waiting.map((r) => [r.key, r.ageS])).toEqual([
      ['w-old', 300],
      ['w-new', 10],
    ]);
    expect(ordered.byAgent.map((g) => [g.agentId, g.rows.map((r) => r.key)])).toEqual([
      ['u2', ['a1']],
      ['u1', ['z2', 'z1']],
      ['bot', ['bot']],
      ['nobody', ['none']],
    ]);
  });

  it('puts a row without createdAt last in its group, with no age', () => {
    const list = applyRequestFrame(new Map(), 'CREATE', [req('x', { status: 100, createdAt: undefined }), req('y', { status: 100 })]);
    expect(orderRequests(list, NOW, name).waiting.map((r) => [r.key, r.ageS])).toEqual([
      ['y', 60],
      ['x', null],
    ]);
  });
});
