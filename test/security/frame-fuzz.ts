import { Random } from '../helpers/random';
import { Frame } from '../helpers/ws-client';

/**
 * A seeded generator of hostile client frames, each with the one answer protocol.md §2 promises for it, so that
 * a flood can be checked frame for frame: `expect` is the key of the single answer (see answerKey), or null when
 * the protocol promises no answer.
 */
export interface FuzzFrame {
  data: string | Buffer;
  binary: boolean;
  expect: string | null;
  kind: string;
}

export interface FuzzTargets {
  /** A project the attacker is an active agent of (some topics there are legitimately granted). */
  own: string;
  /** A project the attacker is not a member of (every topic there is forbidden to it). */
  foreign: string;
  /** A request of the foreign project. */
  foreignRequest: string;
  /** A project_user of the foreign project. */
  foreignPu: string;
  /** The attacker's own project_user id in its project. */
  ownPu: string;
  maxPayload: number;
}

/** The key of one server frame, as FuzzFrame.expect names it; long topics are shortened to keep failures readable. */
export function answerKey(f: Frame): string {
  if (f.action === 'heartbeat') return `heartbeat:${f.payload.message?.text}`;
  if (f.action === 'me') return 'me';
  const t = f.payload.topic;
  const topic = typeof t === 'string' ? shortTopic(t) : String(t);
  if (f.action === 'publish') return `publish:${f.payload.method}:${topic}`;
  if (f.action === 'error') return `error:${f.payload.code}:${topic}`;
  return `other:${f.action}`;
}

export function shortTopic(t: string): string {
  return t.length > 80 ? `${t.slice(0, 40)}…(${t.length} chars)` : t;
}

const err = (code: string, topic: string | null) => `error:${code}:${topic === null ? 'null' : shortTopic(topic)}`;
const snapshot = (topic: string) => `publish:CREATE:${shortTopic(topic)}`;
const BAD = err('bad_request', null);

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'] as const;
const WEIRD_CHARS = [
  '\u0000',
  '\u0001',
  '\n',
  '\r',
  '\t',
  '"',
  '\\',
  '/',
  '%',
  '.',
  '{',
  '}',
  '[',
  ']',
  'é',
  'ß',
  '中',
  '😀',
  '\u202e',
  '\ufeff',
  ' ',
];

export class FrameFuzzer {
  constructor(
    private readonly rnd: Random,
    private readonly t: FuzzTargets,
  ) {}

  /** `n` frames, the mix weighted towards the cheap ones; the huge ones are a few percent. */
  frames(n: number): FuzzFrame[] {
    const out: FuzzFrame[] = [];
    for (let i = 0; i < n; i++) out.push(this.one());
    return out;
  }

  one(): FuzzFrame {
    const kind = this.rnd.weighted({
      binary: 8,
      text: 10,
      nested: 3,
      huge: 3,
      proto: 14,
      actionType: 8,
      payloadType: 8,
      topicType: 8,
      topicString: 16,
      unknownAction: 6,
      spoof: 4,
      valid: 12,
    });
    const f = this[kind]();
    return { ...f, kind };
  }

  /** Random bytes sent as a binary frame. */
  private binary(): Omit<FuzzFrame, 'kind'> {
    const n = this.rnd.between(0, 512);
    const bytes = Buffer.alloc(n);
    for (let i = 0; i < n; i++) bytes[i] = this.rnd.int(256);
    // Sometimes a perfectly valid frame, but binary: still refused.
    const data = this.rnd.chance(0.2)
      ? Buffer.from(JSON.stringify({ action: 'subscribe', payload: { topic: `/${this.t.own}/requests` } }))
      : bytes;
    return { data, binary: true, expect: BAD };
  }

  /** Random text that is not a JSON object with an action (regenerated on the rare miss). */
  private text(): Omit<FuzzFrame, 'kind'> {
    for (;;) {
      const len = this.rnd.between(0, 300);
      let s = '';
      for (let i = 0; i < len; i++) {
        s += this.rnd.chance(0.3) ? this.rnd.pick(WEIRD_CHARS) : String.fromCharCode(this.rnd.between(32, 126));
      }
      if (this.rnd.chance(0.2))
        s = this.rnd.pick(['null', 'true', '0', '-1e400', '""', '[]', '{}', '[{"action":"me"}]', '"{\\"action\\":\\"me\\"}"']);
      let v: unknown;
      try {
        v = JSON.parse(s);
      } catch {
        return { data: s, binary: false, expect: BAD };
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { action?: unknown }).action !== 'string') {
        return { data: s, binary: false, expect: BAD };
      }
    }
  }

  /** Deeply nested JSON: as the whole frame, as the action, or buried in an otherwise valid subscribe. */
  private nested(): Omit<FuzzFrame, 'kind'> {
    const depth = this.rnd.pick([1000, 5000, 10_000]);
    const arrays = '['.repeat(depth) + ']'.repeat(depth);
    switch (this.rnd.int(5)) {
      case 0:
        return { data: arrays, binary: false, expect: BAD };
      case 1:
        return { data: '['.repeat(depth), binary: false, expect: BAD };
      case 2:
        return { data: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, binary: false, expect: BAD };
      case 3:
        return { data: `{"action":${arrays},"payload":{}}`, binary: false, expect: BAD };
      default: {
        const topic = `/${this.t.own}/requests`;
        return {
          data: `{"action":"subscribe","payload":{"topic":${JSON.stringify(topic)},"x":${arrays}}}`,
          binary: false,
          expect: snapshot(topic),
        };
      }
    }
  }

  /** Frames just under WS_MAX_PAYLOAD_BYTES: huge strings and arrays in every field. */
  private huge(): Omit<FuzzFrame, 'kind'> {
    const room = (frame: string) => this.t.maxPayload - Buffer.byteLength(frame) - this.rnd.between(1, 64);
    const topic = `/${this.t.own}/requests`;
    switch (this.rnd.int(6)) {
      case 0: {
        const shell = `{"action":"subscribe","payload":{"topic":${JSON.stringify(topic)},"pad":""}}`;
        return { data: shell.replace('"pad":""', `"pad":"${'x'.repeat(room(shell))}"`), binary: false, expect: snapshot(topic) };
      }
      case 1: {
        const shell = '{"action":"","payload":{}}';
        return { data: shell.replace('"action":""', `"action":"${'a'.repeat(room(shell))}"`), binary: false, expect: BAD };
      }
      case 2: {
        const shell = '{"action":"subscribe","payload":{"topic":[]}}';
        const items = Math.floor(room(shell) / 2);
        return { data: shell.replace('[]', `[${Array(items).fill('1').join(',')}]`), binary: false, expect: BAD };
      }
      case 3: {
        // A topic far over any sane length: the answer echoes it (shortened in the key).
        const shell = '{"action":"subscribe","payload":{"topic":""}}';
        const long = `/${this.t.own}/requests/${'r'.repeat(room(shell) - this.t.own.length - 11)}`;
        return { data: shell.replace('"topic":""', `"topic":${JSON.stringify(long)}`), binary: false, expect: err('unknown_topic', long) };
      }
      case 4: {
        const shell = '{"action":"me","payload":{"list":[]}}';
        const items = Math.floor(room(shell) / 3);
        return { data: shell.replace('[]', `[${Array(items).fill('{}').join(',')}]`), binary: false, expect: 'me' };
      }
      default: {
        // Multi-byte characters up to the limit (the limit is in bytes).
        const shell = '{"action":"subscribe","payload":{"topic":"/x/requests/"}}';
        const long = `/x/requests/${'😀'.repeat(Math.floor(room(shell) / 4))}`;
        const data = shell.replace('"/x/requests/"', JSON.stringify(long));
        return { data, binary: false, expect: err('unknown_topic', long) };
      }
    }
  }

  /** `__proto__`, `constructor` and `prototype` keys at every level, as keys and as values. */
  private proto(): Omit<FuzzFrame, 'kind'> {
    const key = this.rnd.pick(PROTO_KEYS);
    const ownReq = `/${this.t.own}/requests`;
    const cases: [string, string | null][] = [
      [
        `{"action":"subscribe","payload":{"${key}":{"polluted":true},"topic":"/${this.t.foreign}/requests"}}`,
        err('forbidden', `/${this.t.foreign}/requests`),
      ],
      [`{"action":"subscribe","payload":{"${key}":{"polluted":true},"topic":"${ownReq}"}}`, snapshot(ownReq)],
      [`{"action":"subscribe","payload":{"${key}":{"topic":"${ownReq}"}}}`, BAD],
      [`{"${key}":{"action":"me"}}`, BAD],
      [`{"${key}":{"action":"subscribe","payload":{"topic":"${ownReq}"}},"payload":{"topic":"${ownReq}"}}`, BAD],
      [`{"action":"me","${key}":{"polluted":true}}`, 'me'],
      [`{"action":"me","payload":{"${key}":{"polluted":true,"prototype":{"polluted":true}}}}`, 'me'],
      [
        `{"constructor":{"prototype":{"polluted":true}},"action":"heartbeat","payload":{"message":{"text":"ping","__proto__":{"polluted":true}}}}`,
        'heartbeat:pong',
      ],
      [`{"action":"subscribe","payload":{"topic":"${ownReq}","constructor":{"prototype":{"polluted":true}}}}`, snapshot(ownReq)],
      [`{"action":"${key}","payload":{}}`, BAD],
      [`{"action":"${this.rnd.pick(['toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__'])}"}`, BAD],
      [`{"action":"subscribe","payload":{"topic":"/${key}/requests"}}`, err('forbidden', `/${key}/requests`)],
      [`{"action":"subscribe","payload":{"topic":"/${key}/events/x"}}`, err('forbidden', `/${key}/events/x`)],
      [`{"action":"subscribe","payload":{"topic":"/${this.t.own}/requests/${key}"}}`, err('not_found', `/${this.t.own}/requests/${key}`)],
      [
        `{"action":"subscribe","payload":{"topic":"/${this.t.own}/requests/${key}/messages"}}`,
        err('not_found', `/${this.t.own}/requests/${key}/messages`),
      ],
      [
        `{"action":"subscribe","payload":{"topic":"/${this.t.own}/project_users/users/${key}"}}`,
        err('not_found', `/${this.t.own}/project_users/users/${key}`),
      ],
      [
        `{"action":"subscribe","payload":{"topic":"/${this.t.own}/project_users/${key}"}}`,
        err('forbidden', `/${this.t.own}/project_users/${key}`),
      ],
      [`{"action":"unsubscribe","payload":{"topic":"/${this.t.own}/bots/${key}"}}`, null],
    ];
    const [data, expect] = this.rnd.pick(cases);
    return { data, binary: false, expect };
  }

  /** `action` of every type but string. */
  private actionType(): Omit<FuzzFrame, 'kind'> {
    const action = this.rnd.pick<unknown>([
      0,
      1,
      -1,
      3.5,
      1e308,
      true,
      false,
      null,
      [],
      ['subscribe'],
      {},
      { subscribe: true },
      [{ action: 'me' }],
    ]);
    const payload = { topic: `/${this.t.own}/requests` };
    const data = this.rnd.chance(0.5) ? JSON.stringify({ action, payload }) : JSON.stringify({ action });
    return { data, binary: false, expect: BAD };
  }

  /** `payload` of every type but object, on the actions that need one. */
  private payloadType(): Omit<FuzzFrame, 'kind'> {
    const action = this.rnd.pick(['subscribe', 'unsubscribe']);
    const payload = this.rnd.pick<unknown>([
      'x',
      `/${this.t.own}/requests`,
      '',
      0,
      42,
      true,
      [],
      [`/${this.t.own}/requests`],
      [{ topic: `/${this.t.own}/requests` }],
    ]);
    return { data: JSON.stringify({ action, payload }), binary: false, expect: BAD };
  }

  /** `topic` of every type but string. */
  private topicType(): Omit<FuzzFrame, 'kind'> {
    const action = this.rnd.pick(['subscribe', 'unsubscribe']);
    const topic = this.rnd.pick<unknown>([
      0,
      7,
      -1,
      true,
      null,
      {},
      { toString: `/${this.t.own}/requests` },
      [],
      [`/${this.t.own}/requests`],
      ['/', this.t.own, 'requests'],
    ]);
    return { data: JSON.stringify({ action, payload: { topic } }), binary: false, expect: BAD };
  }

  /** String topics: unknown shapes, traversal, unicode, control characters, foreign and own projects. */
  private topicString(): Omit<FuzzFrame, 'kind'> {
    const o = this.t.own;
    const x = this.t.foreign;
    const weird = () => Array.from({ length: this.rnd.between(1, 6) }, () => this.rnd.pick(WEIRD_CHARS.filter((c) => c !== '/'))).join('');
    const cases: [string, string][] = [
      ['', 'unknown_topic'],
      ['/', 'unknown_topic'],
      ['//', 'unknown_topic'],
      ['//requests', 'unknown_topic'],
      [`/${x}`, 'unknown_topic'],
      [`/${o}`, 'unknown_topic'],
      [`${o}/requests`, 'unknown_topic'],
      [`/${o}/requests/`, 'unknown_topic'],
      [`/${o}//requests`, 'unknown_topic'],
      [`/${o}/../${x}/requests`, 'unknown_topic'],
      [`/../${x}/requests`, 'unknown_topic'],
      [`/${x}/requests/../../${o}/requests`, 'unknown_topic'],
      [`/${x}/requests/${this.t.foreignRequest}/messages/extra`, 'unknown_topic'],
      [`/${o}/${weird()}`, 'unknown_topic'],
      [`/${o}/requests/x/${weird()}`, 'unknown_topic'],
      [`/${o}/${'a/'.repeat(this.rnd.between(5, 400))}b`, 'unknown_topic'],
      [`/${o}/requests/${'r'.repeat(this.rnd.between(1100, 10_240))}`, 'unknown_topic'],
      [`/${x}/requests`, 'forbidden'],
      [`/${x}/requests/${this.t.foreignRequest}`, 'forbidden'],
      [`/${x}/requests/${this.t.foreignRequest}/messages`, 'forbidden'],
      [`/${x}/project_users/${this.t.foreignPu}`, 'forbidden'],
      [`/${x}/project_users/users/${weird()}`, 'forbidden'],
      [`/${x}/events/${this.t.foreignPu}`, 'forbidden'],
      [`/${x}/events/${this.t.foreignPu}/${weird()}`, 'forbidden'],
      [`/${x}/bots/${weird()}`, 'forbidden'],
      [`/${weird()}/requests`, 'forbidden'],
      [`/${o}/requests/..`, 'not_found'],
      [`/${o}/requests/%2e%2e`, 'not_found'],
      [`/${o}/requests/${weird()}`, 'not_found'],
      [`/${o}/requests/${weird()}/messages`, 'not_found'],
      [`/${o}/project_users/users/${weird()}`, 'not_found'],
      [`/${o}/project_users/${weird()}`, 'forbidden'],
    ];
    const [topic, code] = this.rnd.pick(cases);
    return { data: JSON.stringify({ action: 'subscribe', payload: { topic } }), binary: false, expect: err(code, topic) };
  }

  /** Actions the protocol does not have (case variants included: actions are case-sensitive names). */
  private unknownAction(): Omit<FuzzFrame, 'kind'> {
    let action = this.rnd.pick([
      '',
      ' ',
      'dance',
      'SUBSCRIBE',
      'Subscribe',
      'subscribe ',
      ' me',
      'ping',
      'pong',
      'join',
      'emit',
      'message',
      'publish\u0000',
    ]);
    if (this.rnd.chance(0.3))
      action = Array.from({ length: this.rnd.between(1, 40) }, () => String.fromCharCode(this.rnd.between(33, 0x2fff))).join('');
    if (['subscribe', 'unsubscribe', 'heartbeat', 'me', 'publish', 'broadcast'].includes(action)) action = `${action}!`;
    return { data: JSON.stringify({ action, payload: { topic: `/${this.t.own}/requests` } }), binary: false, expect: BAD };
  }

  /** Client publish/broadcast: refused with forbidden, nothing relayed. */
  private spoof(): Omit<FuzzFrame, 'kind'> {
    const action = this.rnd.pick(['publish', 'broadcast']);
    const topic = this.rnd.pick([
      `/${this.t.foreign}/requests`,
      `/${this.t.own}/requests`,
      `/${this.t.foreign}/requests/${this.t.foreignRequest}`,
    ]);
    const message = { _id: 'spoofed', request_id: 'spoofed', status: 100, text: 'SPOOFED-BY-ATTACKER' };
    if (this.rnd.chance(0.2)) {
      return {
        data: JSON.stringify({ action, payload: { topic: 5, method: 'CREATE', message } }),
        binary: false,
        expect: err('forbidden', null),
      };
    }
    return {
      data: JSON.stringify({ action, payload: { topic, method: 'CREATE', message } }),
      binary: false,
      expect: err('forbidden', topic),
    };
  }

  /** Valid frames mixed in: they must still be answered exactly. */
  private valid(): Omit<FuzzFrame, 'kind'> {
    const o = this.t.own;
    switch (this.rnd.int(6)) {
      case 0:
        return { data: '{"action":"me"}', binary: false, expect: 'me' };
      case 1:
        return {
          data: JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'ping' } } }),
          binary: false,
          expect: 'heartbeat:pong',
        };
      case 2:
        return { data: JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'pong' } } }), binary: false, expect: null };
      case 3:
        return {
          data: JSON.stringify({ action: 'subscribe', payload: { topic: `/${o}/requests` } }),
          binary: false,
          expect: snapshot(`/${o}/requests`),
        };
      case 4:
        return {
          data: JSON.stringify({ action: 'subscribe', payload: { topic: `/${o}/project_users/${this.t.ownPu}` } }),
          binary: false,
          expect: snapshot(`/${o}/project_users/${this.t.ownPu}`),
        };
      default:
        // A topic the flood never subscribes to: an unsubscribe that overtakes a subscribe still being answered
        // cancels that answer, a race this flood does not mean to measure.
        return {
          data: JSON.stringify({ action: 'unsubscribe', payload: { topic: `/${this.t.foreign}/bots/never-subscribed` } }),
          binary: false,
          expect: null,
        };
    }
  }
}

/** Counts of each key. */
export function tally(keys: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}
