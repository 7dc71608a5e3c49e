import { Viewer } from '../../access/member-access';
import { BotDoc, MessageDoc, ProjectDoc, ProjectUserDoc, RequestDoc } from '../../domain/documents';
import { ProjectStateReader } from '../apply-plan';
import { GuessCache, ReadKind, digestOf, readId } from './guess-cache';

/** One point read a plan made, and the value it was answered with (null: absent). */
export interface PointRead {
  id: string;
  kind: ReadKind;
  key: string;
  field: string;
  expected: string | null;
  /** The commit reply that told the value during this apply, or null for a guess (the cache, or absent). */
  reply: number | null;
}

/** Reads that cannot be checked by value (a whole hash, a list): made against Redis, under the project's write version. */
export interface VersionedReads {
  version(): Promise<string | null>;
  /** Await the version before the reads behind it (a cluster may reorder them otherwise; see RedisReadModel.apply). */
  versionFirst: boolean;
  projectUsers(): Promise<ProjectUserDoc[]>;
  listed(viewer: Pick<Viewer, 'scope' | 'userId'>, limit?: number): Promise<RequestDoc[]>;
  /** A point read made against Redis (for a value that a SHA-1 check cannot cover; see ObservedValues). */
  point(kind: ReadKind, key: string, field: string): Promise<string | null>;
}

/**
 * What the commit replies of one apply told about the project's keys: a reply whose reads did not match carries
 * the value of every read it checked, all taken at one moment (the script's). Also fed to the replica's cache.
 */
export class ObservedValues {
  private readonly values = new Map<string, { value: string | null; reply: number }>();
  private readonly undigestible = new Set<string>();
  private replies = 0;

  constructor(private readonly guesses: GuessCache) {}

  get(id: string): { value: string | null; reply: number } | undefined {
    return this.values.get(id);
  }

  get latest(): number {
    return this.replies;
  }

  /**
   * Whether a read's stored bytes are not what their decoded string encodes back to (not UTF-8: no value this
   * service writes, but a key is not proof against other writers), so that no SHA-1 computed here can match:
   * such a read is made under the write version instead, or it would mismatch for ever.
   */
  isUndigestible(id: string): boolean {
    return this.undigestible.has(id);
  }

  /**
   * Takes in a mismatch reply (`[MISMATCH, per read: 1 when it held the expected value, else what it holds]`).
   * Returns whether a value that Redis itself told during this apply changed since (a concurrent commit: a real
   * conflict), as opposed to guesses only being wrong.
   */
  record(reads: PointRead[], reply: unknown[]): boolean {
    if (reply.length !== reads.length + 1) throw new Error(`commit answered ${reply.length - 1} reads for ${reads.length}`);
    this.replies += 1;
    let raced = false;
    reads.forEach((read, i) => {
      const answer = reply[i + 1];
      const same = answer === 1;
      const value = same ? read.expected : typeof answer === 'string' ? answer : null;
      if (!same && value !== null && value === read.expected) this.undigestible.add(read.id);
      else if (!same && read.reply !== null) raced = true;
      this.values.set(read.id, { value, reply: this.replies });
      this.guesses.set(read.id, value);
    });
    return raced;
  }
}

/**
 * The planner's reader for a one-round-trip apply: every point read is answered at once, from what this apply's
 * commit replies told, else from the replica's cache of values it saw stored, else as absent, and recorded with
 * that value. The commit script checks each recorded value against Redis (by SHA-1) before it writes anything,
 * so the plan commits only if it is exactly the plan that reads made at that moment would have given. Reads that
 * a value check cannot cover (every member, the listed requests) go to Redis behind a read of the write version,
 * which the commit then checks as before.
 */
export class ReadSetReader implements ProjectStateReader {
  readonly reads: PointRead[] = [];
  private readonly byId = new Map<string, PointRead>();
  private verRead: Promise<string | null> | null = null;

  constructor(
    private readonly base: string,
    private readonly guesses: GuessCache,
    private readonly observed: ObservedValues,
    private readonly live: VersionedReads,
  ) {}

  async project(): Promise<ProjectDoc | null> {
    return parse<ProjectDoc>(await this.value('g', `${this.base}project`, ''));
  }

  async request(requestId: string): Promise<RequestDoc | null> {
    return parse<RequestDoc>(await this.value('h', `${this.base}req`, requestId));
  }

  async requestIdOf(oid: string): Promise<string | undefined> {
    return (await this.value('h', `${this.base}roid`, oid)) ?? undefined;
  }

  async message(requestId: string, messageId: string): Promise<MessageDoc | null> {
    return parse<MessageDoc>(await this.value('h', `${this.base}msg:${requestId}`, messageId));
  }

  async projectUser(projectUserId: string): Promise<ProjectUserDoc | null> {
    return parse<ProjectUserDoc>(await this.value('h', `${this.base}pu`, projectUserId));
  }

  async hasEvent(projectUserId: string, name: string, eventId: string): Promise<boolean> {
    return (await this.value('x', `${this.base}ev:${projectUserId}:${name}`, eventId)) !== null;
  }

  async bot(botId: string): Promise<BotDoc | null> {
    return parse<BotDoc>(await this.value('h', `${this.base}bot`, botId));
  }

  async tombstones(keys: string[]): Promise<Array<number | null>> {
    const ats = await Promise.all(keys.map((k) => this.value('h', `${this.base}tomb`, k)));
    return ats.map((at) => (at === null ? null : Number(at)));
  }

  projectUsers(): Promise<ProjectUserDoc[]> {
    return this.versioned(() => this.live.projectUsers());
  }

  listed(viewer: Pick<Viewer, 'scope' | 'userId'>, limit?: number): Promise<RequestDoc[]> {
    return this.versioned(() => this.live.listed(viewer, limit));
  }

  /** The write version the versioned reads were made under, or '' when the plan made none (no version to check). */
  async version(): Promise<string> {
    return this.verRead === null ? '' : ((await this.verRead) ?? '0');
  }

  /**
   * Whether every read was answered by the latest commit reply (values Redis held together at one moment) and
   * none went behind the version: a plan that then writes nothing (stale, duplicate) needs no commit to check it.
   */
  answeredByLatestReply(): boolean {
    return this.verRead === null && this.reads.length > 0 && this.reads.every((r) => r.reply !== null && r.reply === this.observed.latest);
  }

  /** The read set as the commit script takes it: the count, then kind, key, field and SHA-1 ('' for absent) of each. */
  args(): string[] {
    const out = [String(this.reads.length)];
    for (const r of this.reads) out.push(r.kind, r.key, r.field, digestOf(r.expected));
    return out;
  }

  /** A point read: answered at once and recorded for the commit to check, or made under the version (see isUndigestible). */
  private value(kind: ReadKind, key: string, field: string): Promise<string | null> {
    const id = readId(kind, key, field);
    if (this.observed.isUndigestible(id)) return this.versioned(() => this.live.point(kind, key, field));
    const seen = this.byId.get(id);
    if (seen) return Promise.resolve(seen.expected);
    const told = this.observed.get(id);
    const read: PointRead = told
      ? { id, kind, key, field, expected: told.value, reply: told.reply }
      : { id, kind, key, field, expected: this.guesses.get(id) ?? null, reply: null };
    this.reads.push(read);
    this.byId.set(id, read);
    return Promise.resolve(read.expected);
  }

  private async versioned<T>(read: () => Promise<T>): Promise<T> {
    if (this.verRead === null) {
      // Read before the reads it covers (same connection, so Redis runs them in this order), awaited with the commit.
      const ver = this.live.version();
      ver.catch(() => undefined); // awaited by version(); a plan that throws first must not leave it unhandled
      this.verRead = ver;
      if (this.live.versionFirst) await ver;
    }
    return read();
  }
}

function parse<T>(json: string | null): T | null {
  return json === null ? null : (JSON.parse(json) as T);
}
