import { bareJwt, NotARun, parseCommandLine } from '../cli-args';

export type BackfillSource = { kind: 'file'; path: string } | { kind: 'api'; url: string; token: string };

export interface BackfillOptions {
  source: BackfillSource;
  /** The service's base URL (its `POST /v1/events`). */
  target: string;
  /** The service's INGEST_TOKEN; not needed for a dry run. */
  ingestToken: string;
  /** Envelopes per POST (the service takes at most INGEST_MAX_BATCH, default 500). */
  batch: number;
  /** Tiledesk API reads in flight at once. */
  concurrency: number;
  /** The newest N messages of each open request (0: none). */
  messages: number;
  /** Retries of one HTTP call (API or target) on 429, 5xx and network errors. */
  retries: number;
  /** Per HTTP attempt, in ms. */
  timeoutMs: number;
  dryRun: boolean;
}

export type BackfillArgs = { ok: true; options: BackfillOptions } | NotARun;

export const DEFAULT_TARGET = 'http://127.0.0.1:3000';
const DEFAULTS = { batch: 200, concurrency: 4, messages: 300, retries: 6, timeoutS: 30 };
/** The service's default INGEST_MAX_BATCH: a larger batch is refused whole. */
export const MAX_BATCH = 500;

export const BACKFILL_USAGE = `Usage:
  npm run backfill -- --file events.jsonl [options]
  npm run backfill -- --api <TILEDESK_API_URL> --token <admin JWT> [options]

Loads the current state into the realtime service through its HTTP ingest (POST /v1/events), in the
order of ingest.md §3: projects, project users, open requests, their newest messages, bots.

Safe to re-run: the service's staleness rules make a second run change nothing (its events come back as
duplicates or stale). This is also the reload procedure after a Redis that came back empty: start the
service, then run the backfill again (live events from the queue or the API keep flowing meanwhile, and an
older backfilled document never overwrites a newer live one).

Source (one of):
  --file <path>          JSON Lines of envelopes {"type", "data", "id"?}, one per line, sent in file order;
                         blank lines are skipped, a bad line is reported with its line number
  --api <url>            the Tiledesk REST API (default: $TILEDESK_API_URL), read with
  --token <jwt>          a Tiledesk user token, with or without "JWT " (default: $TILEDESK_TOKEN): the
                         projects where that user is an active agent; an owner or admin sees every request
Target:
  --target <url>         the realtime service (default ${DEFAULT_TARGET})
  --ingest-token <t>     its INGEST_TOKEN (default: $INGEST_TOKEN)
Options:
  --batch <n>            envelopes per POST, at most ${MAX_BATCH} (default ${DEFAULTS.batch})
  --concurrency <n>      Tiledesk API reads in flight (default ${DEFAULTS.concurrency})
  --messages <n>         newest messages per open request, 0 for none (default ${DEFAULTS.messages})
  --retries <n>          retries per HTTP call on 429 (after its Retry-After), 5xx and network errors (default ${DEFAULTS.retries})
  --timeout <s>          seconds per HTTP attempt (default ${DEFAULTS.timeoutS})
  --dry-run              read everything, print the envelopes as JSON Lines on stdout, send nothing
  --help, -h             this text

Progress and the summary go to stderr. Exit codes: 0 done, 1 something failed (the summary says what),
2 bad arguments.`;

/** Parses the backfill CLI's arguments (argv without node and the script); `env` supplies the defaults named in the usage. */
export function parseBackfillArgs(argv: string[], env: Record<string, string | undefined> = {}): BackfillArgs {
  const line = parseCommandLine(
    argv,
    {
      file: { type: 'string' },
      api: { type: 'string' },
      token: { type: 'string' },
      target: { type: 'string' },
      'ingest-token': { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      messages: { type: 'string' },
      retries: { type: 'string' },
      timeout: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
    BACKFILL_USAGE,
  );
  if (!line.ok) return line;
  const { values } = line;
  const problems: string[] = [];
  const dryRun = values['dry-run'];

  let source: BackfillSource | null = null;
  const file = values.file?.trim();
  const api = (values.api ?? (file === undefined ? env.TILEDESK_API_URL : undefined))?.trim();
  if (file !== undefined && values.api !== undefined) {
    problems.push('--file and --api: give one source, not both');
  } else if (file !== undefined) {
    if (file === '') problems.push('--file: a path is required');
    else source = { kind: 'file', path: file };
    if (values.token !== undefined) problems.push('--token goes with --api, not with --file');
  } else if (api !== undefined && api !== '') {
    const url = httpUrl('--api', api, problems);
    const token = bareJwt(values.token ?? env.TILEDESK_TOKEN ?? '');
    if (token === '') problems.push('--token is required with --api (a Tiledesk user JWT; or set TILEDESK_TOKEN)');
    if (url !== null && token !== '') source = { kind: 'api', url, token };
  } else {
    problems.push('a source is required: --file <events.jsonl> or --api <TILEDESK_API_URL> --token <jwt>');
  }

  const target = httpUrl('--target', values.target ?? DEFAULT_TARGET, problems);
  const ingestToken = (values['ingest-token'] ?? env.INGEST_TOKEN ?? '').trim();
  if (ingestToken === '' && !dryRun) problems.push('--ingest-token is required (or set INGEST_TOKEN), except with --dry-run');

  const batch = integer('--batch', values.batch, DEFAULTS.batch, 1, MAX_BATCH, problems);
  const concurrency = integer('--concurrency', values.concurrency, DEFAULTS.concurrency, 1, 64, problems);
  const messages = integer('--messages', values.messages, DEFAULTS.messages, 0, 100_000, problems);
  const retries = integer('--retries', values.retries, DEFAULTS.retries, 0, 100, problems);
  const timeoutS = integer('--timeout', values.timeout, DEFAULTS.timeoutS, 1, 3600, problems);

  if (problems.length > 0 || source === null || target === null) return { ok: false, help: false, message: problems.join('\n') };
  return {
    ok: true,
    options: { source, target, ingestToken, batch, concurrency, messages, retries, timeoutMs: timeoutS * 1000, dryRun },
  };
}

function httpUrl(flag: string, value: string, problems: string[]): string | null {
  let parsed: URL;
  try {
    parsed = new URL(value.trim());
  } catch {
    problems.push(`${flag} ${JSON.stringify(value)}: not a URL`);
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    problems.push(`${flag} ${JSON.stringify(value)}: must start with http:// or https://`);
    return null;
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    problems.push(`${flag} ${JSON.stringify(value)}: a base URL without ?query or #fragment`);
    return null;
  }
  // The base without its trailing slashes: paths are appended as "/projects/", "/v1/events".
  return parsed.href.replace(/\/+$/, '');
}

function integer(flag: string, raw: string | undefined, fallback: number, min: number, max: number, problems: string[]): number {
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${flag} ${JSON.stringify(raw)}: an integer from ${min} to ${max}`);
    return fallback;
  }
  return n;
}
