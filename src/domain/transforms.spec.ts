import * as f from '../../test/helpers/factories';
import { ProjectDoc, ProjectUserDoc } from './documents';
import { chatLimit, isBusy, toWireProjectUser, toWireRequest, unwrapProjectUser, withoutSecret } from './transforms';

describe('toWireRequest (protocol.md §4.1)', () => {
  it('sets id equal to _id and keeps _id', () => {
    const r = toWireRequest(f.request('p1', 'r1'));
    expect(r._id).toBe('oid-r1');
    expect(r.id).toBe('oid-r1');
  });

  it('requester_id is the lead id', () => {
    expect(toWireRequest(f.request('p1', 'r1', { lead: 'lead-42' })).requester_id).toBe('lead-42');
  });

  it('requester_id is the _id of a populated lead', () => {
    expect(toWireRequest(f.request('p1', 'r1', { lead: { _id: 'lead-43', fullname: 'V' } })).requester_id).toBe('lead-43');
  });

  it('requester_id is null without a lead', () => {
    expect(toWireRequest(f.request('p1', 'r1', { lead: undefined })).requester_id).toBeNull();
    expect(toWireRequest(f.request('p1', 'r1', { lead: null })).requester_id).toBeNull();
  });

  it('snapshot.requester.isAuthenticated is false for a guest requester and true otherwise', () => {
    const guest = toWireRequest(f.request('p1', 'r1'));
    expect(guest.snapshot.requester).toMatchObject({ role: 'guest', isAuthenticated: false });
    const user = toWireRequest({ ...f.request('p1', 'r2'), snapshot: { requester: { _id: 'x', role: 'user' } } });
    expect(user.snapshot.requester).toMatchObject({ role: 'user', isAuthenticated: true });
    const noRole = toWireRequest({ ...f.request('p1', 'r3'), snapshot: { requester: { _id: 'x' } } });
    expect(noRole.snapshot.requester).toMatchObject({ isAuthenticated: true });
  });

  it('adds no requester when the snapshot has none', () => {
    const r = toWireRequest({ ...f.request('p1', 'r1'), snapshot: { agents: [] } });
    expect(r.snapshot.requester).toBeUndefined();
  });

  it('reduces snapshot.agents to [{id_user}], also from a populated id_user', () => {
    const r = toWireRequest({
      ...f.request('p1', 'r1'),
      snapshot: {
        agents: [
          { _id: 'pu-1', id_user: 'u1', role: 'agent', permissions: ['x'] },
          { _id: 'pu-2', id_user: { _id: 'u2', firstname: 'B', email: 'b@example.test' }, role: 'admin' },
        ],
      },
    });
    expect(r.snapshot.agents).toEqual([{ id_user: 'u1' }, { id_user: 'u2' }]);
  });

  it('keeps the other snapshot fields (requester, lead, department)', () => {
    const raw = f.request('p1', 'r1', { agents: ['u1'] });
    const r = toWireRequest(raw);
    expect(r.snapshot.lead).toEqual(raw.snapshot.lead);
    expect(r.snapshot.department).toEqual(raw.snapshot.department);
    expect(r.snapshot.requester).toMatchObject(raw.snapshot.requester);
  });

  it('always has snapshot.agents and participants, defaulting to empty arrays', () => {
    const raw: Record<string, unknown> = { ...f.request('p1', 'r1') };
    delete raw.participants;
    delete raw.snapshot;
    const r = toWireRequest(raw);
    expect(r.participants).toEqual([]);
    expect(r.snapshot.agents).toEqual([]);
    const nullSnapshot = toWireRequest({ ...f.request('p1', 'r2'), snapshot: null });
    expect(nullSnapshot.snapshot.agents).toEqual([]);
  });

  it('keeps status, participants and every unknown field untouched', () => {
    const r = toWireRequest(f.request('p1', 'r1', { status: 300, participants: ['u1', 'bot_b1'], custom: { deep: [1, 2] } }));
    expect(r).toMatchObject({ status: 300, participants: ['u1', 'bot_b1'], custom: { deep: [1, 2] }, first_text: 'Hello, I need help' });
  });

  it('does not modify its input', () => {
    const raw = f.request('p1', 'r1', { agents: ['u1'] });
    const before = JSON.parse(JSON.stringify(raw));
    toWireRequest(raw);
    expect(raw).toEqual(before);
  });
});

describe('isBusy and chatLimit (protocol.md §4.4)', () => {
  const proj = (max?: number) => f.project('p1', { settings: max === undefined ? {} : { max_agent_assigned_chat: max } }) as ProjectDoc;
  const pu = (assigned: number, own?: number) =>
    f.projectUser('p1', 'u1', 'agent', { number_assigned_requests: assigned, max_assigned_chat: own }) as ProjectUserDoc;

  it('the project limit applies: busy at and above it', () => {
    expect(chatLimit(pu(0), proj(3))).toBe(3);
    expect(isBusy(pu(2), proj(3))).toBe(false);
    expect(isBusy(pu(3), proj(3))).toBe(true);
    expect(isBusy(pu(4), proj(3))).toBe(true);
  });

  it('a larger personal limit replaces the project limit', () => {
    expect(chatLimit(pu(0, 5), proj(3))).toBe(5);
    expect(isBusy(pu(3, 5), proj(3))).toBe(false);
    expect(isBusy(pu(5, 5), proj(3))).toBe(true);
  });

  it('a smaller personal limit does not replace the project limit', () => {
    expect(chatLimit(pu(0, 2), proj(3))).toBe(3);
    expect(isBusy(pu(2, 2), proj(3))).toBe(false);
  });

  it('-1 means no limit, for the project and for the member', () => {
    expect(chatLimit(pu(0), proj(-1))).toBeUndefined();
    expect(isBusy(pu(1000), proj(-1))).toBe(false);
    expect(chatLimit(pu(0, -1), proj(3))).toBe(3);
    expect(isBusy(pu(1000, -1), proj(-1))).toBe(false);
  });

  it('no limit anywhere: never busy', () => {
    expect(chatLimit(pu(0), proj())).toBeUndefined();
    expect(isBusy(pu(1000), proj())).toBe(false);
    expect(isBusy(pu(1000), null)).toBe(false);
    expect(isBusy(pu(1000), undefined)).toBe(false);
  });

  it('a personal limit alone applies when the project sets none', () => {
    expect(chatLimit(pu(0, 2), proj())).toBe(2);
    expect(isBusy(pu(2, 2), null)).toBe(true);
    expect(isBusy(pu(1, 2), proj(-1))).toBe(false);
  });

  it('a limit of 0 makes the member busy at once', () => {
    expect(isBusy(pu(0), proj(0))).toBe(true);
  });

  it('a member without number_assigned_requests counts as 0 assigned', () => {
    const doc = f.projectUser('p1', 'u1', 'agent') as ProjectUserDoc;
    delete doc.number_assigned_requests;
    expect(isBusy(doc, proj(1))).toBe(false);
    expect(isBusy(doc, proj(0))).toBe(true);
  });

  it('toWireProjectUser is the document plus isBusy', () => {
    const doc = pu(3);
    expect(toWireProjectUser(doc, proj(3))).toEqual({ ...doc, isBusy: true });
    expect(toWireProjectUser(doc, proj(4))).toEqual({ ...doc, isBusy: false });
  });
});

describe('withoutSecret', () => {
  it('drops the secret of a bot and keeps the rest', () => {
    const b = f.bot('p1', 'b1', { secret: 's3cr3t', webhook_url: 'https://example.test' });
    const out = withoutSecret(b);
    expect(out).not.toHaveProperty('secret');
    expect(out).toMatchObject({ _id: 'b1', id_project: 'p1', webhook_url: 'https://example.test' });
    expect((b as Record<string, unknown>).secret).toBe('s3cr3t');
  });

  it('leaves a bot without a secret as it is', () => {
    const b = f.bot('p1', 'b1');
    expect(withoutSecret(b)).toEqual(b);
  });
});

describe('unwrapProjectUser', () => {
  it('unwraps the Tiledesk {updatedProject_userPopulated, req} envelope', () => {
    const doc = f.projectUser('p1', 'u1', 'agent');
    expect(unwrapProjectUser({ updatedProject_userPopulated: doc, req: { user: {} } })).toBe(doc);
  });

  it('passes a plain project_user through', () => {
    const doc = f.projectUser('p1', 'u1', 'agent');
    expect(unwrapProjectUser(doc)).toBe(doc);
  });

  it('does not unwrap a non-object updatedProject_userPopulated', () => {
    const doc = { ...f.projectUser('p1', 'u1', 'agent'), updatedProject_userPopulated: 'x' };
    expect(unwrapProjectUser(doc)).toBe(doc);
  });
});
