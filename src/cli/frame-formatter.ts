import { parseTopic } from '../protocol/topic-grammar';

/**
 * One readable line per server frame for the watch CLI: time, topic, method and a short summary of the
 * payload (request ids, statuses, participants; arrays as a count and their ids). Pure.
 */

type Obj = Record<string, unknown>;

export interface FormatOptions {
  /** When the frame arrived (printed as local HH:MM:SS.mmm). */
  at?: Date;
  /** Print the frame as it came, instead of a summary. */
  json?: boolean;
  /** Heartbeats are answered silently; set to print them too. */
  heartbeats?: boolean;
}

const MAX_IDS = 5;
const MAX_TEXT = 60;
const MAX_ID_CHARS = 24;

/** Formats a frame (raw text as received, or already parsed); null for frames not worth a line (heartbeats). */
export function formatFrame(frame: string | Obj, opts: FormatOptions = {}): string | null {
  const time = clock(opts.at ?? new Date());
  let parsed: unknown = frame;
  if (typeof frame === 'string') {
    try {
      parsed = JSON.parse(frame);
    } catch {
      return `${time} (not JSON) ${truncate(frame, 200)}`;
    }
  }
  if (!isObj(parsed)) return `${time} (unexpected) ${truncate(JSON.stringify(parsed), 200)}`;
  const payload = isObj(parsed.payload) ? parsed.payload : {};
  if (parsed.action === 'heartbeat' && !opts.heartbeats) return null;
  if (opts.json) return typeof frame === 'string' ? frame : JSON.stringify(frame);
  switch (parsed.action) {
    case 'publish': {
      const topic = str(payload.topic) ?? '-';
      const method = str(payload.method) ?? '(no method)';
      return `${time} ${topic} ${method} ${summarize(topic, method, payload.message)}`;
    }
    case 'error':
      return `${time} ${str(payload.topic) ?? '-'} ERROR ${str(payload.code) ?? '?'}: ${str(payload.message) ?? ''}`;
    case 'heartbeat':
      return `${time} heartbeat ${str(isObj(payload.message) ? payload.message.text : undefined) ?? ''}`;
    case 'me':
      return `${time} me connection ${str(payload.id) ?? '?'} user ${str(payload.userId) ?? '?'}`;
    default:
      return `${time} ${str(parsed.action) ?? '(no action)'} ${truncate(JSON.stringify(payload), 200)}`;
  }
}

function summarize(topic: string, method: string, message: unknown): string {
  const kind = parseTopic(topic)?.kind;
  if (message === null || message === undefined) return 'null';
  if (Array.isArray(message)) {
    const items = message.filter(isObj);
    switch (kind) {
      case 'requests':
        return `${items.length} requests ${ids(items.map((r) => `${short(str(r.request_id) ?? str(r._id) ?? '?')}(${show(r.status)})`))}`;
      case 'messages':
        return `${items.length} messages ${ids(items.map((m) => str(m._id) ?? '?'))}`;
      case 'events':
        return `${items.length} events ${ids(items.map((e) => `${str(e.name) ?? '?'}:${str(e._id) ?? '?'}`))}`;
      default:
        return `${message.length} items ${ids(items.map((x) => str(x._id) ?? '?'))}`;
    }
  }
  if (!isObj(message)) return truncate(JSON.stringify(message), 120);
  if (method === 'DELETE') return `${describeKind(kind)} ${str(message.request_id) ?? str(message._id) ?? '?'} removed`;
  switch (kind) {
    case 'requests':
    case 'request':
      return requestLine(message);
    case 'messages':
      return messageLine(message);
    case 'project_user':
    case 'project_user_by_user':
      return projectUserLine(message);
    case 'events':
      return `event ${str(message.name) ?? '?'} ${str(message._id) ?? '?'} by ${refId(message.project_user) ?? '?'} ${truncate(JSON.stringify(message.attributes ?? {}), 80)}`;
    case 'bot':
      return `bot ${str(message._id) ?? '?'} "${str(message.name) ?? ''}" trained ${show(message.trained)}`;
    default:
      if (typeof message.request_id === 'string') return requestLine(message);
      if (typeof message.recipient === 'string') return messageLine(message);
      return truncate(JSON.stringify(message), 160);
  }
}

function requestLine(r: Obj): string {
  const participants = strings(r.participants);
  const snapshot = isObj(r.snapshot) ? r.snapshot : {};
  const agents = (Array.isArray(snapshot.agents) ? snapshot.agents : []).filter(isObj).map((a) => refId(a.id_user) ?? '?');
  return `request ${str(r.request_id) ?? '?'} status ${show(r.status)} participants ${participants.length} ${ids(participants)} agents ${agents.length} ${ids(agents)}`;
}

function messageLine(m: Obj): string {
  const text = str(m.text);
  return `message ${str(m._id) ?? '?'} status ${show(m.status)} from ${str(m.senderFullname) ?? str(m.sender) ?? '?'}${text !== undefined ? `: ${JSON.stringify(truncate(text, MAX_TEXT))}` : ''}`;
}

function projectUserLine(pu: Obj): string {
  const profile = str(pu.profileStatus);
  return (
    `project_user ${str(pu._id) ?? '?'} user ${refId(pu.id_user) ?? str(pu.uuid_user) ?? '?'} ${str(pu.role) ?? '?'}` +
    ` available ${show(pu.user_available)}${profile ? ` (${profile})` : ''} busy ${show(pu.isBusy)} assigned ${show(pu.number_assigned_requests ?? 0)}`
  );
}

function describeKind(kind: string | undefined): string {
  if (kind === 'messages') return 'message';
  return kind === 'requests' || kind === 'request' || kind === undefined ? 'request' : kind;
}

/** `[a, b, c]`, at most MAX_IDS of them, then how many more; long ids (request ids) by their tail. */
function ids(list: string[]): string {
  const shown = list.slice(0, MAX_IDS).map(short).join(', ');
  return list.length > MAX_IDS ? `[${shown}, +${list.length - MAX_IDS} more]` : `[${shown}]`;
}

function short(id: string): string {
  return id.length > MAX_ID_CHARS ? `…${id.slice(-12)}` : id;
}

function clock(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** Scalars as they are, anything else as JSON (undefined stays "undefined"). */
function show(v: unknown): string {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function refId(v: unknown): string | undefined {
  return isObj(v) ? str(v._id) : str(v);
}
