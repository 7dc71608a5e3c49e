import { Doc } from '../../domain/documents';
import { FatalError, SourceItem } from './backfill-envelope';
import { AbortedError, HttpDeps, HttpUnreachableError, Limiter, requestWithRetry, RetryOptions, summarizeBody } from './backfill-http';
import {
  botItem,
  isEnabledProject,
  isLastPage,
  messageItem,
  newestMessages,
  openRequestsQuery,
  parseArray,
  parseRequestsPage,
  projectItem,
  projectPath,
  projectsOfMemberships,
  projectUserItem,
  requestIdOf,
  requestItem,
  REQUESTS_PAGE_LIMIT,
  UnexpectedShapeError,
} from './backfill-tiledesk-mapping';

/** A read that failed for good (403, 404, 5xx after the retries): reported, and the run goes on. */
export class ReadFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReadFailure';
  }
}

/**
 * The Tiledesk REST API as the backfill reads it: `Authorization: JWT <token>`, at most `concurrency`
 * reads in flight, retries from backfill-http. An unreachable API or a refused token ends the run (every
 * later read would fail the same way): the first such error aborts the reads still queued.
 */
export class TiledeskApi {
  private readonly limiter: Limiter;
  private readonly abortController = new AbortController();
  private fatalError: FatalError | null = null;
  /** Reads that answered (for the progress line). */
  reads = 0;

  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    concurrency: number,
    private readonly retry: RetryOptions,
    private readonly deps: HttpDeps,
  ) {
    this.limiter = new Limiter(concurrency);
  }

  get fatal(): FatalError | null {
    return this.fatalError;
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  /** GETs a path and resolves with its JSON; ReadFailure or FatalError otherwise. */
  async get(path: string): Promise<unknown> {
    const url = this.url(path);
    try {
      const answer = await this.limiter.run(() =>
        requestWithRetry(
          { method: 'GET', url, headers: { authorization: `JWT ${this.token}`, accept: 'application/json' } },
          this.retry,
          this.deps,
          this.abortController.signal,
        ),
      );
      this.reads++;
      if (answer.status === 401) {
        throw this.stop(new FatalError(`the Tiledesk API refused the token (HTTP 401) at GET ${url}: give a valid user JWT with --token`));
      }
      if (answer.status < 200 || answer.status > 299) {
        throw new ReadFailure(`GET ${url}: HTTP ${answer.status}${summarizeBody(answer.json, answer.text)}`);
      }
      if (answer.json === undefined) throw new ReadFailure(new UnexpectedShapeError(url, 'JSON').message);
      return answer.json;
    } catch (err) {
      if (err instanceof AbortedError && this.fatalError) throw this.fatalError;
      if (err instanceof HttpUnreachableError) {
        if (err.status === undefined)
          throw this.stop(new FatalError(`cannot reach the Tiledesk API at ${url}: ${err.reason} (after ${err.attempts} attempts)`));
        throw new ReadFailure(`GET ${url}: ${err.reason}, still after ${err.attempts} attempts`);
      }
      throw err;
    }
  }

  /** Stops every read still queued or in flight (the run is over). */
  abort(): void {
    this.abortController.abort();
    this.limiter.abort();
  }

  private stop(err: FatalError): FatalError {
    this.fatalError ??= err;
    this.abort();
    return this.fatalError;
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** A promise that never rejects: reads are started ahead of their turn and must not reject unobserved. */
function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** A failed read as an item (its events are unknown), or the error again when it ends the run. */
function failedRead(error: unknown, type: string, origin: string): SourceItem {
  if (error instanceof ReadFailure || error instanceof UnexpectedShapeError) {
    return { ok: false, type, origin, problem: error.message, readFailure: true };
  }
  throw error;
}

export interface TiledeskSourceOptions {
  /** Newest messages per open request (0: none read). */
  messages: number;
  /** Requests per page (default and largest: Tiledesk's 100). */
  pageLimit?: number;
  /** Message reads started ahead of their turn (default 8); each holds one request's messages until sent. */
  readAhead?: number;
}

/** GETs of paths in a fixed order, at most `window` of them started and not yet taken. */
class ReadAhead {
  private readonly waiting: string[] = [];
  private readonly started: Array<{ url: string; read: Promise<Settled<unknown>> }> = [];

  constructor(
    private readonly api: TiledeskApi,
    private readonly window: number,
  ) {}

  push(path: string): void {
    this.waiting.push(path);
    this.fill();
  }

  async *drain(): AsyncGenerator<{ url: string; result: Settled<unknown> }> {
    for (let next = this.started.shift(); next; next = this.started.shift()) {
      this.fill();
      yield { url: next.url, result: await next.read };
    }
  }

  private fill(): void {
    while (this.started.length < this.window && this.waiting.length > 0) {
      const path = this.waiting.shift()!;
      this.started.push({ url: this.api.url(path), read: settle(this.api.get(path)) });
    }
  }
}

/**
 * Every envelope of the API in the order of ingest.md §3: all projects first, then for each enabled
 * project its members, its open requests, their newest messages and its bots. A project's members and
 * bots and the messages of each page of requests are read ahead (within the concurrency cap) while the
 * earlier envelopes are being sent.
 */
export async function* tiledeskItems(api: TiledeskApi, options: TiledeskSourceOptions): AsyncGenerator<SourceItem> {
  const listPath = '/projects/';
  const listUrl = api.url(listPath);
  let memberships: Doc[];
  try {
    memberships = parseArray(await api.get(listPath), listUrl, 'project_users');
  } catch (err) {
    // Nothing can be read without the list of projects.
    if (err instanceof ReadFailure || err instanceof UnexpectedShapeError) throw new FatalError(err.message);
    throw err;
  }
  const projects = projectsOfMemberships(memberships);
  for (const p of projects) yield projectItem(p, `GET ${listUrl} project ${String(p._id)}`);
  for (const p of projects) {
    if (isEnabledProject(p)) yield* projectItems(api, String(p._id), options);
  }
}

async function* projectItems(api: TiledeskApi, projectId: string, options: TiledeskSourceOptions): AsyncGenerator<SourceItem> {
  const membersPath = `${projectPath(projectId, 'project_users')}/`;
  const botsPath = projectPath(projectId, 'faq_kb');
  const members = settle(api.get(membersPath));
  const bots = settle(api.get(botsPath));

  yield* listItems(await members, api.url(membersPath), 'project_users', 'project_user.update', projectUserItem);

  // The messages come after every request of the project (ingest.md §3), and a request's messages can be large:
  // only a window of reads runs ahead (some while the requests are still being read), so memory stays bounded
  // by the window, not by the project.
  const messages = new ReadAhead(api, Math.max(1, options.readAhead ?? 8));
  for await (const item of openRequestItems(api, projectId, options.pageLimit ?? REQUESTS_PAGE_LIMIT)) {
    if (item.ok && options.messages > 0) {
      const requestId = requestIdOf(item.envelope.data);
      if (requestId !== undefined) messages.push(projectPath(projectId, 'requests', requestId, 'messages'));
    }
    yield item;
  }
  for await (const { url, result } of messages.drain()) {
    yield* listItems(result, url, 'messages', 'message.create', messageItem, (docs) => newestMessages(docs, options.messages));
  }

  yield* listItems(await bots, api.url(botsPath), 'bots', 'faqbot.update', botItem);
}

/**
 * The items of one list read (`keep` picks the documents to send), each named by its `_id`; the read as a
 * failure when it failed or did not answer an array.
 */
function* listItems(
  read: Settled<unknown>,
  url: string,
  what: string,
  type: string,
  toItem: (doc: Doc, origin: string) => SourceItem,
  keep: (docs: Doc[]) => Doc[] = (docs) => docs,
): Generator<SourceItem> {
  const origin = `GET ${url}`;
  if (!read.ok) {
    yield failedRead(read.error, type, origin);
    return;
  }
  let docs: Doc[];
  try {
    docs = keep(parseArray(read.value, url, what));
  } catch (err) {
    yield failedRead(err, type, origin);
    return;
  }
  for (const doc of docs) yield toItem(doc, `${origin} _id ${String(doc._id)}`);
}

/** At most this many passes over the pages when the count moves while they are read. */
const MAX_PASSES = 3;

/**
 * The project's open requests, page by page, each once. Pages are skip/limit over a live collection: a
 * request closed while the pages are read shifts the later ones back by one, so one could be missed; when
 * the count moved during a pass, another pass picks up what the first did not see.
 */
async function* openRequestItems(api: TiledeskApi, projectId: string, pageLimit: number): AsyncGenerator<SourceItem> {
  const seen = new Set<string>();
  const base = projectPath(projectId, 'requests');
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    let firstCount: number | undefined;
    let lastCount: number | undefined;
    let maxPages = Number.POSITIVE_INFINITY;
    for (let page = 0; page < maxPages; page++) {
      const path = base + openRequestsQuery(page, pageLimit);
      const url = api.url(path);
      let parsed;
      try {
        parsed = parseRequestsPage(await api.get(path), url);
      } catch (err) {
        // A page that cannot be read ends this project's requests: the later pages depend on its place.
        yield failedRead(err, 'request.update', `GET ${url}`);
        return;
      }
      if (firstCount === undefined) {
        firstCount = parsed.count;
        // A count that keeps growing must not page forever.
        maxPages = Math.ceil(parsed.count / Math.max(1, parsed.perPage)) + 10;
      }
      lastCount = parsed.count;
      for (const r of parsed.requests) {
        const id = typeof r._id === 'string' ? r._id : undefined;
        if (id !== undefined) {
          if (seen.has(id)) continue;
          seen.add(id);
        }
        yield requestItem(r, `GET ${url} _id ${String(r._id)}`);
      }
      if (isLastPage(page, parsed)) break;
    }
    if (firstCount === lastCount) return;
  }
}
