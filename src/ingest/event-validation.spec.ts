import * as f from '../../test/helpers/factories';
import { IngestValidationError, ValidatedEvent, validateEnvelope } from './event-validation';

const LIMITS = { maxEventBytes: 262_144 };
const ok = (raw: unknown, limits = LIMITS): ValidatedEvent => validateEnvelope(raw, 0, limits);

function refusal(raw: unknown, index = 0, limits = LIMITS): IngestValidationError {
  try {
    validateEnvelope(raw, index, limits);
  } catch (err) {
    if (err instanceof IngestValidationError) return err;
    throw err;
  }
  throw new Error('expected an IngestValidationError');
}

describe('validateEnvelope: every event type', () => {
  it('project.update', () => {
    const data = f.project('p1', { settings: { max_agent_assigned_chat: 4 } });
    expect(ok({ type: 'project.update', data })).toEqual({
      type: 'project.update',
      event: { type: 'project.update', projectId: 'p1', data },
    });
  });

  it.each(['project_user.create', 'project_user.update'])('%s becomes a project_user upsert', (type) => {
    const data = f.projectUser('p1', 'u1', 'agent');
    expect(ok({ type, data })).toEqual({ type, event: { type: 'project_user.upsert', projectId: 'p1', data } });
  });

  it('project_user.delete', () => {
    expect(ok({ type: 'project_user.delete', data: { _id: 'pu-1', id_project: 'p1' } })).toEqual({
      type: 'project_user.delete',
      event: { type: 'project_user.delete', projectId: 'p1', projectUserId: 'pu-1' },
    });
  });

  it.each(['request.create', 'request.update'])('%s becomes a request upsert in wire shape', (type) => {
    const data = f.request('p1', 'r1', { agents: ['u1'], participants: ['u1'] });
    const v = ok({ type, data });
    expect(v.type).toBe(type);
    expect(v.event).toMatchObject({ type: 'request.upsert', projectId: 'p1' });
    const doc = (v.event as { data: Record<string, unknown> }).data;
    expect(doc).toMatchObject({ _id: 'oid-r1', id: 'oid-r1', request_id: 'r1', requester_id: 'lead-r1', participants: ['u1'] });
    expect(doc.snapshot).toMatchObject({ agents: [{ id_user: 'u1' }], requester: { isAuthenticated: false } });
  });

  it('request.delete by request_id, by _id, or both', () => {
    expect(ok({ type: 'request.delete', data: { request_id: 'r1', id_project: 'p1' } }).event).toEqual({
      type: 'request.delete',
      projectId: 'p1',
      requestId: 'r1',
    });
    expect(ok({ type: 'request.delete', data: { _id: 'oid-r1', id_project: 'p1' } }).event).toEqual({
      type: 'request.delete',
      projectId: 'p1',
      oid: 'oid-r1',
    });
    expect(ok({ type: 'request.delete', data: { _id: 'oid-r1', request_id: 'r1', id_project: 'p1' } }).event).toEqual({
      type: 'request.delete',
      projectId: 'p1',
      requestId: 'r1',
      oid: 'oid-r1',
    });
  });

  it.each(['message.create', 'message.update'])('%s becomes a message upsert', (type) => {
    const data = f.message('p1', 'r1', { request: f.request('p1', 'r1') });
    expect(ok({ type, data })).toEqual({ type, event: { type: 'message.upsert', projectId: 'p1', data } });
  });

  it('event.emit, with a plain or a populated project_user', () => {
    const plain = f.event('p1', 'pu-1', 'typing');
    expect(ok({ type: 'event.emit', data: plain }).event).toEqual({ type: 'event.emit', projectId: 'p1', data: plain });
    const populated = f.event('p1', 'pu-1', 'typing', { project_user: { _id: 'pu-1', role: 'agent' } });
    expect(ok({ type: 'event.emit', data: populated }).event).toEqual({ type: 'event.emit', projectId: 'p1', data: populated });
  });

  it('faqbot.update drops the bot secret', () => {
    const data = f.bot('p1', 'b1', { secret: 'bot-secret' });
    const v = ok({ type: 'faqbot.update', data });
    expect(v.event).toMatchObject({ type: 'bot.upsert', projectId: 'p1', data: { _id: 'b1', name: 'Bot b1' } });
    expect((v.event as { data: object }).data).not.toHaveProperty('secret');
  });

  it('carries the envelope id', () => {
    expect(ok({ type: 'project.update', data: f.project('p1'), id: 'evt-1' }).id).toBe('evt-1');
    expect(ok({ type: 'project.update', data: f.project('p1') })).not.toHaveProperty('id');
  });
});

describe('validateEnvelope: Tiledesk routing keys as aliases', () => {
  it.each([
    ['request_create', 'request.create', () => f.request('p1', 'r1'), 'request.upsert'],
    ['request_update', 'request.update', () => f.request('p1', 'r1'), 'request.upsert'],
    ['message_create', 'message.create', () => f.message('p1', 'r1'), 'message.upsert'],
    ['project_user_update', 'project_user.update', () => f.projectUser('p1', 'u1', 'agent'), 'project_user.upsert'],
    ['faqbot_update', 'faqbot.update', () => f.bot('p1', 'b1'), 'bot.upsert'],
  ])('%s is %s', (alias, type, data, domainType) => {
    const v = ok({ type: alias, data: data() });
    expect(v.type).toBe(type);
    expect(v.event.type).toBe(domainType);
    expect(v.event.projectId).toBe('p1');
  });
});

describe('validateEnvelope: Tiledesk project_user envelope', () => {
  it('unwraps {updatedProject_userPopulated, req}', () => {
    const pu = f.projectUser('p1', 'u1', 'agent', { id_user: { _id: 'u1', firstname: 'A', email: 'a@example.test' } });
    const v = ok({ type: 'project_user_update', data: { updatedProject_userPopulated: pu, req: { params: {}, user: { _id: 'admin' } } } });
    expect(v.event).toEqual({ type: 'project_user.upsert', projectId: 'p1', data: pu });
  });

  it('names the field inside the wrapper when the inner project_user is bad', () => {
    const pu: Record<string, unknown> = { ...f.projectUser('p1', 'u1', 'agent') };
    delete pu.role;
    const err = refusal({ type: 'project_user.update', data: { updatedProject_userPopulated: pu, req: {} } });
    expect(err.field).toBe('data.updatedProject_userPopulated.role');
  });

  it('a project_user without status is active; with uuid_user instead of id_user is accepted', () => {
    const pu: Record<string, unknown> = { ...f.projectUser('p1', 'u1', 'agent', { uuid_user: 'uuid-1' }) };
    delete pu.status;
    delete pu.id_user;
    expect(ok({ type: 'project_user.create', data: pu }).event).toMatchObject({ data: { status: 'active', uuid_user: 'uuid-1' } });
  });
});

describe('validateEnvelope: refusals name the event index and the field', () => {
  const request = () => f.request('p1', 'r1') as Record<string, unknown>;
  const without = (doc: Record<string, unknown>, key: string) => {
    const copy = { ...doc };
    delete copy[key];
    return copy;
  };

  it.each([
    ['request.create', () => without(request(), 'request_id'), 'data.request_id'],
    ['request.create', () => without(request(), '_id'), 'data._id'],
    ['request.update', () => without(request(), 'id_project'), 'data.id_project'],
    ['request.update', () => without(request(), 'status'), 'data.status'],
    ['message.create', () => without(f.message('p1', 'r1'), 'recipient'), 'data.recipient'],
    ['message.create', () => without(f.message('p1', 'r1'), 'id_project'), 'data.id_project'],
    ['project_user.create', () => without(f.projectUser('p1', 'u1', 'agent'), 'role'), 'data.role'],
    ['project_user.create', () => without(f.projectUser('p1', 'u1', 'agent'), 'id_user'), 'data.id_user'],
    ['project_user.delete', () => ({ id_project: 'p1' }), 'data._id'],
    ['request.delete', () => ({ id_project: 'p1' }), 'data.request_id'],
    ['request.delete', () => ({ request_id: 'r1' }), 'data.id_project'],
    ['event.emit', () => without(f.event('p1', 'pu-1', 'x'), 'name'), 'data.name'],
    ['event.emit', () => without(f.event('p1', 'pu-1', 'x'), 'project_user'), 'data.project_user'],
    ['faqbot.update', () => without(f.bot('p1', 'b1'), 'id_project'), 'data.id_project'],
    ['project.update', () => without(f.project('p1'), '_id'), 'data._id'],
  ])('%s missing a required field: %#', (type, data, field) => {
    const err = refusal({ type, data: data() }, 4);
    expect(err.code).toBe('bad_request');
    expect(err.index).toBe(4);
    expect(err.field).toBe(field);
    expect(err.message).toContain('event 4');
    expect(err.message).toContain(field);
    expect(err.message).toMatch(/required/);
  });

  it.each([
    ['request _id a number', 'request.create', () => ({ ...request(), _id: 12345 }), 'data._id'],
    ['request_id an object', 'request.create', () => ({ ...request(), request_id: { $oid: 'x' } }), 'data.request_id'],
    ['id_project empty', 'request.create', () => ({ ...request(), id_project: '' }), 'data.id_project'],
    ['status a string', 'request.update', () => ({ ...request(), status: '200' }), 'data.status'],
    ['participants not strings', 'request.update', () => ({ ...request(), participants: [1, 2] }), 'data.participants.0'],
    ['participants a string', 'request.update', () => ({ ...request(), participants: 'u1' }), 'data.participants'],
    [
      'snapshot agent without id_user',
      'request.update',
      () => ({ ...request(), snapshot: { agents: [{}] } }),
      'data.snapshot.agents.0.id_user',
    ],
    ['updatedAt not a date', 'request.update', () => ({ ...request(), updatedAt: 'yesterday' }), 'data.updatedAt'],
    ['preflight a string', 'request.update', () => ({ ...request(), preflight: 'no' }), 'data.preflight'],
    ['message recipient a number', 'message.create', () => ({ ...f.message('p1', 'r1'), recipient: 7 }), 'data.recipient'],
    ['project_user id_user a number', 'project_user.update', () => ({ ...f.projectUser('p1', 'u1', 'agent'), id_user: 7 }), 'data.id_user'],
    [
      'project_user permissions not an array',
      'project_user.update',
      () => ({ ...f.projectUser('p1', 'u1', 'agent'), permissions: 'all' }),
      'data.permissions',
    ],
    [
      'event project_user without _id',
      'event.emit',
      () => ({ ...f.event('p1', 'pu', 'x'), project_user: { role: 'agent' } }),
      'data.project_user',
    ],
    [
      'project settings limit a string',
      'project.update',
      () => f.project('p1', { settings: { max_agent_assigned_chat: '3' } }),
      'data.settings.max_agent_assigned_chat',
    ],
  ])('%s is refused', (_what, type, data, field) => {
    const err = refusal({ type, data: data() }, 2);
    expect(err.code).toBe('bad_request');
    expect(err.index).toBe(2);
    expect(err.field).toBe(field);
    expect(err.message).toContain('event 2');
  });

  it('a wrong type is reported as a wrong type, not as missing', () => {
    const err = refusal({ type: 'request.create', data: { ...request(), _id: 12345 } });
    expect(err.message).not.toMatch(/required/);
    expect(err.message).toMatch(/string/);
  });

  it('an unknown type is refused, naming the type field', () => {
    const err = refusal({ type: 'request.archive', data: request() }, 3);
    expect(err).toMatchObject({ code: 'bad_request', index: 3, field: 'type' });
    expect(err.message).toContain('request.archive');
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('the type %j is unknown, not an alias', (type) => {
    expect(refusal({ type, data: request() })).toMatchObject({ code: 'bad_request', field: 'type' });
  });

  it.each([
    ['not an object', 42, null],
    ['an array', [{ type: 'request.create' }], null],
    ['null', null, null],
    ['without type', { data: {} }, 'type'],
    ['type not a string', { type: 1, data: {} }, 'type'],
    ['without data', { type: 'request.create' }, 'data'],
    ['data an array', { type: 'request.create', data: [] }, 'data'],
    ['data a string', { type: 'request.create', data: 'x' }, 'data'],
    ['id not a string', { type: 'project.update', data: { _id: 'p1' }, id: 5 }, 'id'],
    ['id empty', { type: 'project.update', data: { _id: 'p1' }, id: '' }, 'id'],
  ])('a malformed envelope (%s) is refused', (_what, raw, field) => {
    const err = refusal(raw, 1);
    expect(err).toMatchObject({ code: 'bad_request', index: 1, field });
    expect(err.message).toContain('event 1');
  });
});

describe('validateEnvelope: size and unknown fields', () => {
  it('a document over the size limit is payload_too_large', () => {
    const data = f.message('p1', 'r1', { text: 'x'.repeat(2000) });
    const err = refusal({ type: 'message.create', data }, 5, { maxEventBytes: 1024 });
    expect(err).toMatchObject({ code: 'payload_too_large', index: 5, field: 'data' });
  });

  it('a document just under the limit passes', () => {
    const data = f.message('p1', 'r1', { text: 'x'.repeat(100) });
    const size = Buffer.byteLength(JSON.stringify(data));
    expect(() => validateEnvelope({ type: 'message.create', data }, 0, { maxEventBytes: size })).not.toThrow();
    expect(refusal({ type: 'message.create', data }, 0, { maxEventBytes: size - 1 }).code).toBe('payload_too_large');
  });

  it('counts bytes, not characters', () => {
    const data = f.message('p1', 'r1', { text: 'é'.repeat(600) });
    expect(refusal({ type: 'message.create', data }, 0, { maxEventBytes: 1024 }).code).toBe('payload_too_large');
  });

  it('unknown extra fields pass through untouched, at every level', () => {
    const data = f.request('p1', 'r1', {
      custom_field: { nested: [1, { deep: true }] },
      attributes: { sourcePage: 'https://example.test' },
      snapshot: { agents: [], requester: { role: 'guest', extra: 'kept' }, lead: { _id: 'l', tags: ['a'] }, extra_snapshot: 1 },
    });
    const doc = (ok({ type: 'request.create', data }).event as { data: Record<string, unknown> }).data;
    expect(doc.custom_field).toEqual({ nested: [1, { deep: true }] });
    expect(doc.attributes).toEqual({ sourcePage: 'https://example.test' });
    expect(doc.snapshot).toMatchObject({ requester: { extra: 'kept' }, lead: { _id: 'l', tags: ['a'] }, extra_snapshot: 1 });
    const msg = f.message('p1', 'r1', { metadata: { src: 'x' }, attributes: { a: 1 } });
    expect(ok({ type: 'message.create', data: msg }).event).toMatchObject({ data: { metadata: { src: 'x' }, attributes: { a: 1 } } });
  });

  it('unknown envelope fields are ignored', () => {
    expect(() => ok({ type: 'project.update', data: f.project('p1'), source: 'backfill', ts: 1 })).not.toThrow();
  });
});
