import { bareJwt, NotARun, parseCommandLine } from './cli-args';

export interface WatchOptions {
  topics: string[];
  /** A bare JWT (a leading `JWT ` is removed). */
  token: string;
  url: string;
  json: boolean;
  once: boolean;
}

export type WatchArgs = { ok: true; options: WatchOptions } | NotARun;

export const DEFAULT_WATCH_URL = 'ws://localhost:3000/';

export const WATCH_USAGE = `Usage: npm run watch -- --topic <topic> [--topic <topic> ...] --token <jwt> [--url ${DEFAULT_WATCH_URL}] [--json] [--once]

Connects to the realtime service, subscribes to every topic and prints each frame as one line.
  --topic, -t   a topic such as /<projectId>/requests (repeatable)
  --token       a user JWT (with or without the "JWT " prefix)
  --url         the service's WebSocket URL (default ${DEFAULT_WATCH_URL})
  --json        print the raw frames instead of one-line summaries
  --once        exit when the connection drops instead of reconnecting
  --help, -h    this text`;

/** Parses the watch CLI's arguments (argv without node and the script). */
export function parseWatchArgs(argv: string[]): WatchArgs {
  const line = parseCommandLine(
    argv,
    {
      topic: { type: 'string', short: 't', multiple: true },
      token: { type: 'string' },
      url: { type: 'string', default: DEFAULT_WATCH_URL },
      json: { type: 'boolean', default: false },
      once: { type: 'boolean', default: false },
    },
    WATCH_USAGE,
  );
  if (!line.ok) return line;
  const { values } = line;
  const problems: string[] = [];
  const topics = values.topic ?? [];
  if (topics.length === 0) problems.push('--topic is required (for example --topic /<projectId>/requests)');
  for (const t of topics) if (!t.startsWith('/')) problems.push(`--topic ${JSON.stringify(t)}: a topic starts with /`);
  const token = bareJwt(values.token ?? '');
  if (token === '') problems.push('--token is required (a user JWT)');
  const url = values.url;
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    problems.push(`--url ${JSON.stringify(url)}: not a URL`);
  }
  if (parsed && parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
    problems.push(`--url ${JSON.stringify(url)}: must start with ws:// or wss://`);
  if (problems.length > 0) return { ok: false, help: false, message: problems.join('\n') };
  return { ok: true, options: { topics, token, url, json: values.json, once: values.once } };
}
