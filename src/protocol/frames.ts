/**
 * Frame shapes of protocol.md §2 and the parser for client frames. Server frames are serialized once
 * here and the resulting text is shared by every recipient.
 */

export type Method = 'CREATE' | 'UPDATE' | 'DELETE';

export const ERROR_CODES = [
  'bad_request',
  'unknown_topic',
  'forbidden',
  'not_found',
  'rate_limited',
  'too_many_subscriptions',
  'too_many_connections',
  'internal',
] as const;
export type FrameErrorCode = (typeof ERROR_CODES)[number];

export type ClientFrame =
  | { action: 'subscribe'; topic: string }
  | { action: 'unsubscribe'; topic: string }
  | { action: 'heartbeat'; text: string | undefined }
  | { action: 'me' }
  | { action: 'publish' | 'broadcast'; topic: string | null };

export type ParsedFrame = { ok: true; frame: ClientFrame } | { ok: false; code: FrameErrorCode; message: string; topic: string | null };

function bad(message: string, topic: string | null = null): ParsedFrame {
  return { ok: false, code: 'bad_request', message, topic };
}

export function parseClientFrame(data: Buffer | string, isBinary: boolean): ParsedFrame {
  if (isBinary) return bad('binary frames are not accepted: send JSON text');
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return bad('frame is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return bad('frame must be a JSON object {"action": ..., "payload": {...}}');
  }
  const { action, payload } = value as { action?: unknown; payload?: unknown };
  if (typeof action !== 'string') return bad('"action" must be a string');
  if (payload !== undefined && payload !== null && (typeof payload !== 'object' || Array.isArray(payload))) {
    return bad('"payload" must be an object');
  }
  const p = (payload ?? {}) as Record<string, unknown>;
  switch (action) {
    case 'subscribe':
    case 'unsubscribe': {
      if (p.topic === undefined) return bad(`${action} needs payload.topic`);
      if (typeof p.topic !== 'string') return bad('payload.topic must be a string');
      return { ok: true, frame: { action, topic: p.topic } };
    }
    case 'heartbeat': {
      const message = p.message as { text?: unknown } | undefined;
      const text = typeof message === 'object' && message !== null && typeof message.text === 'string' ? message.text : undefined;
      return { ok: true, frame: { action, text } };
    }
    case 'me':
      return { ok: true, frame: { action } };
    case 'publish':
    case 'broadcast':
      return { ok: true, frame: { action, topic: typeof p.topic === 'string' ? p.topic : null } };
    default:
      return bad(`unknown action ${JSON.stringify(action).slice(0, 64)}`);
  }
}

export function publishFrame(topic: string, method: Method, message: unknown): string {
  return JSON.stringify({ action: 'publish', payload: { topic, method, message } });
}

export function errorFrame(topic: string | null, code: FrameErrorCode, message: string): string {
  return JSON.stringify({ action: 'error', payload: { topic, code, message } });
}

export function meFrame(id: string, userId: string): string {
  return JSON.stringify({ action: 'me', payload: { id, userId } });
}

export const PING_FRAME = JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
export const PONG_FRAME = JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'pong' } } });
