import { z } from 'zod';
import { DomainEvent } from '../domain/domain-events';
import { BotDoc, EventDoc, MessageDoc, ProjectDoc, ProjectUserDoc } from '../domain/documents';
import { toWireRequest, unwrapProjectUser, withoutSecret } from '../domain/transforms';

/**
 * Validation and normalization of ingest envelopes (ingest.md §1). Unknown extra fields pass through;
 * what the service reasons about must have the right type. Errors name the event index and the field.
 */

export interface ValidatedEvent {
  id?: string;
  type: string;
  event: DomainEvent;
}

export class IngestValidationError extends Error {
  constructor(
    readonly code: 'bad_request' | 'payload_too_large',
    message: string,
    readonly index: number,
    readonly field: string | null,
  ) {
    super(message);
  }
}

export const EVENT_TYPES = [
  'project.update',
  'project_user.create',
  'project_user.update',
  'project_user.delete',
  'request.create',
  'request.update',
  'request.delete',
  'message.create',
  'message.update',
  'event.emit',
  'faqbot.update',
] as const;

/** The routing keys of Tiledesk's `ws` fan-out exchange. */
export const TYPE_ALIASES: Readonly<Record<string, (typeof EVENT_TYPES)[number]>> = {
  request_create: 'request.create',
  request_update: 'request.update',
  message_create: 'message.create',
  project_user_update: 'project_user.update',
  faqbot_update: 'faqbot.update',
};

/** The ingest type a sent type or routing key names (aliases resolved), or undefined for any other string. */
export function eventTypeOf(sent: string): (typeof EVENT_TYPES)[number] | undefined {
  const type = TYPE_ALIASES[sent] ?? sent;
  return (EVENT_TYPES as readonly string[]).includes(type) ? (type as (typeof EVENT_TYPES)[number]) : undefined;
}

const id = z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' });
const date = z
  .string({ error: 'must be an ISO date string' })
  .refine((v) => !Number.isNaN(Date.parse(v)), { error: 'must be an ISO date string' });
const version = { updatedAt: date.optional(), __v: z.number().optional() };
const ref = z.union([id, z.looseObject({ _id: id })], { error: 'must be an id or an object with _id' });
const strings = z.array(z.string(), { error: 'must be an array of strings' });

const envelopeSchema = z.looseObject({
  type: z.string({ error: 'must be a string' }),
  data: z.record(z.string(), z.unknown(), { error: 'must be an object' }),
  id: id.optional(),
});

const projectSchema = z.looseObject({
  _id: id,
  status: z.number().optional(),
  settings: z.looseObject({ max_agent_assigned_chat: z.number().optional() }).optional(),
  ...version,
});

const projectUserSchema = z
  .looseObject({
    _id: id,
    id_project: id,
    id_user: ref.optional(),
    uuid_user: id.optional(),
    role: z.string({ error: 'must be a string' }),
    roleType: z.number().optional(),
    status: z.string().default('active'),
    permissions: strings.optional(),
    rolePermissions: strings.optional(),
    user_available: z.boolean().optional(),
    number_assigned_requests: z.number().optional(),
    max_assigned_chat: z.number().optional(),
    ...version,
  })
  .refine((pu) => pu.id_user !== undefined || pu.uuid_user !== undefined, { error: 'required (or uuid_user)', path: ['id_user'] });

const projectUserDeleteSchema = z.looseObject({ _id: id, id_project: id });

const requestSchema = z.looseObject({
  _id: id,
  request_id: id,
  id_project: id,
  status: z.number({ error: 'must be a number' }),
  participants: strings.optional(),
  snapshot: z
    .looseObject({
      agents: z.array(z.looseObject({ id_user: ref }), { error: 'must be an array of {id_user}' }).optional(),
      requester: z.looseObject({}).nullable().optional(),
    })
    .nullable()
    .optional(),
  preflight: z.boolean().nullable().optional(),
  draft: z.boolean().nullable().optional(),
  createdAt: date.optional(),
  ...version,
});

const requestDeleteSchema = z
  .looseObject({ _id: id.optional(), request_id: id.optional(), id_project: id })
  .refine((d) => d._id !== undefined || d.request_id !== undefined, { error: 'required (or _id)', path: ['request_id'] });

const messageSchema = z.looseObject({
  _id: id,
  id_project: id,
  recipient: id,
  createdAt: date.optional(),
  ...version,
});

const eventSchema = z.looseObject({
  _id: id,
  id_project: id,
  name: id,
  project_user: ref,
  createdAt: date.optional(),
});

const botSchema = z.looseObject({ _id: id, id_project: id, ...version });

export interface ValidationLimits {
  maxEventBytes: number;
}

/** Validates one envelope; throws IngestValidationError naming `index` and the field. */
export function validateEnvelope(raw: unknown, index: number, limits: ValidationLimits): ValidatedEvent {
  // reportInput: without it zod 4 leaves `issue.input` unset and every wrong type would read "required".
  const env = envelopeSchema.safeParse(raw, { reportInput: true });
  if (!env.success) throw fromZod(env.error, index, '');
  const type = eventTypeOf(env.data.type);
  if (type === undefined) {
    throw new IngestValidationError('bad_request', `event ${index}: unknown type ${JSON.stringify(env.data.type)}`, index, 'type');
  }
  const size = Buffer.byteLength(JSON.stringify(env.data.data));
  if (size > limits.maxEventBytes) {
    throw new IngestValidationError(
      'payload_too_large',
      `event ${index}: document of ${size} bytes is over INGEST_MAX_EVENT_BYTES (${limits.maxEventBytes})`,
      index,
      'data',
    );
  }
  const event = toDomainEvent(type, env.data.data, index);
  return env.data.id !== undefined ? { id: env.data.id, type, event } : { type, event };
}

function toDomainEvent(type: (typeof EVENT_TYPES)[number], data: Record<string, unknown>, index: number): DomainEvent {
  const parse = <T>(schema: z.ZodType, value: unknown, prefix = 'data.'): T => {
    const r = schema.safeParse(value, { reportInput: true });
    if (!r.success) throw fromZod(r.error, index, prefix, type);
    return r.data as T;
  };
  switch (type) {
    case 'project.update': {
      const d = parse<ProjectDoc>(projectSchema, data);
      return { type, projectId: d._id, data: d };
    }
    case 'project_user.create':
    case 'project_user.update': {
      const pu = unwrapProjectUser(data);
      const d = parse<ProjectUserDoc>(projectUserSchema, pu, pu === data ? 'data.' : 'data.updatedProject_userPopulated.');
      return { type: 'project_user.upsert', projectId: d.id_project, data: d };
    }
    case 'project_user.delete': {
      const d = parse<{ _id: string; id_project: string }>(projectUserDeleteSchema, data);
      return { type, projectId: d.id_project, projectUserId: d._id };
    }
    case 'request.create':
    case 'request.update': {
      const d = parse<Record<string, unknown> & { id_project: string }>(requestSchema, data);
      return { type: 'request.upsert', projectId: d.id_project, data: toWireRequest(d) };
    }
    case 'request.delete': {
      const d = parse<{ _id?: string; request_id?: string; id_project: string }>(requestDeleteSchema, data);
      return {
        type,
        projectId: d.id_project,
        ...(d.request_id !== undefined ? { requestId: d.request_id } : {}),
        ...(d._id !== undefined ? { oid: d._id } : {}),
      };
    }
    case 'message.create':
    case 'message.update': {
      const d = parse<MessageDoc>(messageSchema, data);
      return { type: 'message.upsert', projectId: d.id_project, data: d };
    }
    case 'event.emit': {
      const d = parse<EventDoc>(eventSchema, data);
      return { type, projectId: d.id_project, data: d };
    }
    case 'faqbot.update': {
      const d = parse<BotDoc>(botSchema, withoutSecret(data));
      return { type: 'bot.upsert', projectId: d.id_project, data: d };
    }
  }
}

function fromZod(error: z.ZodError, index: number, prefix: string, type?: string): IngestValidationError {
  const issue = error.issues[0]!;
  const field = prefix + issue.path.map(String).join('.');
  const missing = (issue.code === 'invalid_type' || issue.code === 'invalid_union') && issue.input === undefined;
  const what = missing ? 'required' : issue.message;
  return new IngestValidationError(
    'bad_request',
    `event ${index}${type ? ` (${type})` : ''}: ${field || 'envelope'}: ${what}`,
    index,
    field || null,
  );
}
