import * as f from '../../test/helpers/factories';
import { ProjectDoc, ProjectUserDoc } from '../domain/documents';
import { toWireRequest } from '../domain/transforms';
import { MAX_PER_MEMBER, memberCounts, requestOps } from './metrics-ops';

const NOW = Date.parse('2030-01-01T12:00:00.000Z');
const at = (ms: number) => new Date(ms).toISOString();
const request = (id: string, o: Record<string, unknown>) => toWireRequest(f.request('p1', id, o));
const project = (max: number) => f.project('p1', { settings: { max_agent_assigned_chat: max } }) as unknown as ProjectDoc;

describe('metrics writes of one change', () => {
  it('counts whole numbers only, so that both engines add exactly what they are given', () => {
    const pu = f.projectUser('p1', 'u1', 'agent', { number_assigned_requests: 1.5, max_assigned_chat: 2.7 }) as unknown as ProjectUserDoc;
    expect(memberCounts(pu, project(-1))).toMatchObject({ slots: 2, used: 1 });
    const absurd = f.projectUser('p1', 'u2', 'agent', {
      number_assigned_requests: -4,
      max_assigned_chat: 1e21,
    }) as unknown as ProjectUserDoc;
    expect(memberCounts(absurd, project(-1))).toMatchObject({ slots: MAX_PER_MEMBER, used: 0 });
  });

  it('takes a time before 2000 as unreadable and a time after now as now', () => {
    const old = request('r1', { status: 100, createdAt: '1969-12-31T23:00:00.000Z' });
    expect(requestOps(null, old, NOW)).toEqual([{ op: 'mxCount', delta: { open: 1, unassigned: 1 } }]);
    const ahead = request('r2', { status: 100, createdAt: at(NOW + 86_400_000) });
    expect(requestOps(null, ahead, NOW)).toContainEqual({ op: 'mxWait', id: ahead._id, at: NOW });
    expect(requestOps(null, ahead, NOW)).toContainEqual({ op: 'mxArrival', id: ahead._id, at: NOW });
  });

  it('moves the waiting entry when the same request_id comes back under another _id', () => {
    const createdAt = at(NOW - 60_000);
    const prev = request('r1', { _id: 'old', status: 100, createdAt });
    const next = request('r1', { _id: 'new', status: 100, createdAt });
    const ops = requestOps(prev, next, NOW);
    expect(ops).toContainEqual({ op: 'mxWait', id: 'old', at: null });
    expect(ops).toContainEqual({ op: 'mxWait', id: 'new', at: NOW - 60_000 });
  });
});
