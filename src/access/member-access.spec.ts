import * as f from '../../test/helpers/factories';
import { ProjectDoc, ProjectUserDoc, RequestDoc } from '../domain/documents';
import { toWireRequest } from '../domain/transforms';
import {
  accessFacts,
  audienceOf,
  audienceUserIds,
  canSee,
  canSeeRequest,
  isActiveMember,
  isProjectEnabled,
  mayReadMetrics,
  memberUserId,
  scopeOf,
  viewerKey,
  viewerOf,
} from './member-access';
import { Random } from '../../test/helpers/random';

const pu = (role: string, overrides: Record<string, unknown> = {}) => f.projectUser('p1', 'u1', role, overrides) as ProjectUserDoc;
const req = (id: string, overrides: Record<string, unknown> = {}): RequestDoc => toWireRequest(f.request('p1', id, overrides));

describe('active member (protocol.md §3)', () => {
  it.each(['owner', 'admin', 'supervisor', 'agent'])('an active %s is a member', (role) => {
    expect(isActiveMember(pu(role))).toBe(true);
  });

  it('an active custom role of roleType 1 is a member', () => {
    expect(isActiveMember(pu('teammate', { roleType: 1 }))).toBe(true);
  });

  it.each([
    ['a custom role without roleType', pu('teammate', { roleType: undefined })],
    ['a custom role of roleType 2', pu('teammate', { roleType: 2 })],
    ['a user', pu('user')],
    ['a guest', pu('guest')],
    ['a user even with roleType 1', pu('user', { roleType: 1 })],
    ['a guest even with roleType 1', pu('guest', { roleType: 1 })],
    ['a disabled owner', pu('owner', { status: 'disabled' })],
    ['a disabled agent', pu('agent', { status: 'disabled' })],
    ['an agent with any status other than active', pu('agent', { status: 'invited' })],
  ])('%s is not a member', (_what, doc) => {
    expect(isActiveMember(doc)).toBe(false);
    expect(viewerOf(doc, 'u1')).toBeNull();
  });

  it('no project_user at all is not a member', () => {
    expect(isActiveMember(null)).toBe(false);
    expect(isActiveMember(undefined)).toBe(false);
    expect(viewerOf(null, 'u1')).toBeNull();
  });

  it('viewerOf an active member carries its user id, role, scope and permissions', () => {
    const v = viewerOf(pu('agent', { permissions: ['request_read_group'], rolePermissions: ['lead_read'] }), 'u1');
    expect(v).not.toBeNull();
    expect(v!.userId).toBe('u1');
    expect(v!.role).toBe('agent');
    expect(v!.scope).toBe('group');
    expect([...v!.permissions].sort()).toEqual(['lead_read', 'request_read_group']);
  });
});

describe('project enabled', () => {
  it('a project with status 100, or not known yet, is enabled', () => {
    expect(isProjectEnabled(f.project('p1') as ProjectDoc)).toBe(true);
    expect(isProjectEnabled(null)).toBe(true);
    expect(isProjectEnabled({ _id: 'p1' })).toBe(true);
  });

  it('a project with any other status is disabled', () => {
    expect(isProjectEnabled(f.project('p1', { status: 0 }) as ProjectDoc)).toBe(false);
    expect(isProjectEnabled(f.project('p1', { status: 200 }) as ProjectDoc)).toBe(false);
  });
});

describe('request scope: permissions first, else the role', () => {
  it.each([
    ['owner', 'all'],
    ['admin', 'all'],
    ['agent', 'group'],
    ['supervisor', 'participants'],
  ])('role %s without permissions sees %s', (role, scope) => {
    expect(scopeOf(pu(role))).toBe(scope);
  });

  it('a custom role without permissions sees its participations only', () => {
    expect(scopeOf(pu('teammate', { roleType: 1 }))).toBe('participants');
  });

  it('request_read_all in the permissions gives every request, whatever the role', () => {
    expect(scopeOf(pu('supervisor', { permissions: ['request_read_all'] }))).toBe('all');
    expect(scopeOf(pu('teammate', { roleType: 1, permissions: ['request_read_group', 'request_read_all'] }))).toBe('all');
  });

  it('request_read_group in the permissions gives assigned and participated requests', () => {
    expect(scopeOf(pu('supervisor', { permissions: ['request_read_group'] }))).toBe('group');
  });

  it('permissions present but without a read permission restrict even an owner to participations', () => {
    expect(scopeOf(pu('owner', { permissions: ['lead_read'] }))).toBe('participants');
    expect(scopeOf(pu('admin', { rolePermissions: ['lead_read'] }))).toBe('participants');
    expect(scopeOf(pu('agent', { permissions: ['analytics_read'] }))).toBe('participants');
  });

  it("the role's permissions count like the member's own", () => {
    expect(scopeOf(pu('teammate', { roleType: 1, rolePermissions: ['request_read_all'] }))).toBe('all');
    expect(scopeOf(pu('supervisor', { rolePermissions: ['request_read_group'] }))).toBe('group');
    expect(scopeOf(pu('agent', { permissions: ['lead_read'], rolePermissions: ['request_read_all'] }))).toBe('all');
  });

  it('empty permission arrays mean "no permissions": the role decides', () => {
    expect(scopeOf(pu('owner', { permissions: [], rolePermissions: [] }))).toBe('all');
    expect(scopeOf(pu('agent', { permissions: [] }))).toBe('group');
  });
});

describe('request visibility for each scope', () => {
  const mine = req('r-participant', { participants: ['u1'] });
  const assigned = req('r-agent', { agents: ['u1'] });
  const other = req('r-other', { participants: ['u2'], agents: ['u2'] });
  const unassigned = req('r-unassigned', { status: 100 });

  it('scope all sees every request', () => {
    for (const r of [mine, assigned, other, unassigned]) expect(canSeeRequest({ scope: 'all', userId: 'u1' }, r)).toBe(true);
  });

  it('scope group sees requests where the user is a participant or in snapshot.agents', () => {
    const v = { scope: 'group' as const, userId: 'u1' };
    expect(canSeeRequest(v, mine)).toBe(true);
    expect(canSeeRequest(v, assigned)).toBe(true);
    expect(canSeeRequest(v, other)).toBe(false);
    expect(canSeeRequest(v, unassigned)).toBe(false);
  });

  it('scope participants sees only requests where the user is a participant', () => {
    const v = { scope: 'participants' as const, userId: 'u1' };
    expect(canSeeRequest(v, mine)).toBe(true);
    expect(canSeeRequest(v, assigned)).toBe(false);
    expect(canSeeRequest(v, other)).toBe(false);
  });

  it('a populated snapshot agent (id_user object) counts once the request is in wire shape', () => {
    const r = toWireRequest({ ...f.request('p1', 'r-pop'), snapshot: { agents: [{ id_user: { _id: 'u1', firstname: 'A' } }] } });
    expect(canSeeRequest({ scope: 'group', userId: 'u1' }, r)).toBe(true);
  });

  it('canSee over an audience agrees with canSeeRequest', () => {
    for (const r of [mine, assigned, other, unassigned]) {
      for (const scope of ['all', 'group', 'participants'] as const) {
        expect(canSee(scope, 'u1', audienceOf(r))).toBe(canSeeRequest({ scope, userId: 'u1' }, r));
      }
    }
  });

  it('audienceUserIds lists participants and agents once each', () => {
    const r = req('r-both', { participants: ['u1', 'u2'], agents: ['u2', 'u3'] });
    expect(audienceUserIds(r).sort()).toEqual(['u1', 'u2', 'u3']);
  });
});

describe('accessFacts: a project_user reduced to what the rules read', () => {
  it('gives every rule the same answer as the whole document, over random members', () => {
    const rnd = new Random(7);
    const perms = ['request_read_all', 'request_read_group', 'analytics_read', 'lead_read'];
    for (let i = 0; i < 500; i++) {
      const doc = pu(rnd.pick(['owner', 'admin', 'supervisor', 'agent', 'user', 'guest', 'teammate']), {
        status: rnd.pick(['active', 'disabled', 'invited']),
        roleType: rnd.pick([undefined, 1, 2]),
        permissions: rnd.chance(0.5) ? rnd.subset(perms, 0.4) : undefined,
        rolePermissions: rnd.chance(0.3) ? rnd.subset(perms, 0.4) : undefined,
        id_user: rnd.chance(0.3) ? { _id: 'u1', email: 'someone@example.com', firstname: 'A' } : 'u1',
        user_available: rnd.chance(0.5),
        number_assigned_requests: rnd.int(5),
      });
      const facts = accessFacts(doc);
      expect(memberUserId(facts)).toBe(memberUserId(doc));
      expect(isActiveMember(facts)).toBe(isActiveMember(doc));
      expect(viewerKey(facts)).toBe(viewerKey(doc));
      expect(mayReadMetrics(facts)).toBe(mayReadMetrics(doc));
      expect(viewerOf(facts, 'u1')).toEqual(viewerOf(doc, 'u1'));
      expect(facts._id).toBe(doc._id);
      expect(JSON.stringify(facts).length).toBeLessThanOrEqual(JSON.stringify(doc).length);
    }
  });
});
