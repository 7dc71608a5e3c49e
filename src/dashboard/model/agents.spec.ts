import type { ProjectUserDoc } from './documents';
import { agentIdsIn, agentLoad, agentName, agentStatus, userIdOf } from './agents';
import { applyRequestFrame } from './request-list';

const pu = (over: Partial<ProjectUserDoc> = {}): ProjectUserDoc => ({ _id: 'pu-1', id_user: 'u1', user_available: true, ...over });

describe('agents', () => {
  it('reads the user id and name of a project_user with or without the populated user', () => {
    expect(userIdOf(pu())).toBe('u1');
    expect(userIdOf(pu({ id_user: { _id: 'u2', firstname: 'Ada' } }))).toBe('u2');
    expect(agentName(pu({ id_user: { _id: 'u2', firstname: 'Ada', lastname: 'Lovelace' } }), 'u2')).toBe('Ada Lovelace');
    expect(agentName(pu(), 'u1')).toBe('u1');
    expect(agentName(undefined, 'u9')).toBe('u9');
  });

  it('tells available, busy and away as the metrics count them', () => {
    expect(agentStatus(pu())).toBe('available');
    expect(agentStatus(pu({ isBusy: true }))).toBe('busy');
    expect(agentStatus(pu({ user_available: false, isBusy: true }))).toBe('away');
  });

  it('loads against the own limit, else the fallback, marked estimated', () => {
    expect(agentLoad(pu({ number_assigned_requests: 2, max_assigned_chat: 4 }), 3)).toEqual({
      used: 2,
      limit: 4,
      limitEstimated: false,
      ratio: 0.5,
    });
    expect(agentLoad(pu({ number_assigned_requests: 5 }), 2.6)).toEqual({ used: 5, limit: 3, limitEstimated: true, ratio: 1 });
    expect(agentLoad(pu(), 0)).toMatchObject({ used: 0, limit: 1 });
  });

  it('learns agent ids from the requests, first seen first, capped', () => {
    const list = applyRequestFrame(new Map(), 'CREATE', [
      { _id: 'a', status: 200, participants: ['u2', 'bot_x'], snapshot: { agents: [{ id_user: 'u2' }] } },
      { _id: 'b', status: 200, participants: ['u3'] },
      { _id: 'c', status: 100, participants: [] },
    ]);
    expect(agentIdsIn(list)).toEqual(['u2', 'u3']);
    expect(agentIdsIn(list, ['u1'])).toEqual(['u1', 'u2', 'u3']);
    expect(agentIdsIn(list, [], 1)).toEqual(['u2']);
  });
});
