import { accessFacts, memberUserId, viewerOf } from '../access/member-access';
import { Change, Envelope } from '../domain/changes';
import { ProjectDoc, ProjectUserDoc, RequestDoc, isListed } from '../domain/documents';
import { Topic } from '../protocol/topic-grammar';
import { newestFirst } from '../store/apply-plan';
import { MembersRead, TopicRead } from '../store/read-model';

type MemberChange = Extract<Change, { type: 'project_user' }>;

/** How long after a failed or discarded members load the next may start. */
const MEMBERS_RETRY_MS = 1000;

/**
 * Moves a user id → project_user map as the stores move their index of it: a project_user's user id is taken
 * from its previous holder by the last write, and a removed or changed project_user lets go of its old user id
 * only if it still holds it. An id absent from a partial map stays absent (unknown).
 */
function moveMember(members: Map<string, ProjectUserDoc | null>, change: MemberChange): void {
  const { prev, next } = change;
  const prevUser = prev ? memberUserId(prev) : undefined;
  if (prev && prevUser !== undefined && members.get(prevUser)?._id === prev._id) members.set(prevUser, null);
  const nextUser = next ? memberUserId(next) : undefined;
  if (next && nextUser !== undefined) members.set(nextUser, accessFacts(next));
}

/**
 * What one replica knows of a project it has subscribers in, exact at one seq: the project document, the
 * memberships (every one, once loaded with readMembers; until then those of the users who subscribed), and the
 * see-all `/P/requests` list (the WS_HISTORY_REQUESTS_LIMIT newest listed requests). It answers the subscribes
 * that need nothing else (`/P/requests` for a member who sees every request, and any subscribe of a non-member
 * or inactive member, refused from the membership alone) without reading the store.
 *
 * Exact by construction: it starts from a store read taken at the seq this replica's envelopes have reached
 * (nothing delivered since the read, so nothing to replay), then follows every envelope of the project in
 * order: a project_user change moves the memberships as the store moves its index of them, a request change
 * moves the list, a project change replaces the project. A load of every membership is brought to the view's
 * seq with the project_user changes followed while it was out (or waits for the view to reach it). Whatever the
 * view cannot follow exactly it forgets, and the next subscribe that needs it reads the store:
 * - a listed request leaving a list that was cut at the limit leaves a hole the envelopes cannot fill: the list
 *   is forgotten (a list that held every listed request stays whole, since every newcomer arrives by envelope);
 * - an envelope that does not follow the last one (a gap, or a store that went back), a resync, or a bus that
 *   is not connected: the fan-out drops the whole view (see FanoutService).
 */
export class ProjectView {
  private project: ProjectDoc | null | undefined = undefined;
  /** User id → the project_user a subscribe of that user finds (null: none), for the users known here. */
  private members = new Map<string, ProjectUserDoc | null>();
  /** Every user id is in `members` (loaded with readMembers): one absent there has no membership. */
  private allMembers = false;
  /** While a members load is out: the project_user changes followed since it was asked for. */
  private membersLoad: Array<{ seq: number; change: MemberChange }> | null = null;
  /** A load answered at a seq this view has not reached yet: adopted when it gets there. */
  private membersAhead: { seq: number; members: Map<string, ProjectUserDoc | null> } | null = null;
  /** After a failed load, none before this time (ms): a store that fails is not asked for every member each subscribe. */
  private noLoadBefore = 0;
  /** The see-all list, newest first, at most `limit` long; `whole` when it holds every listed request. */
  private list: { requests: RequestDoc[]; whole: boolean } | null = null;
  /** The list as handed out: frozen, so that every subscriber of one list version shares one snapshot frame. */
  private frozen: readonly RequestDoc[] | null = null;

  private constructor(
    /** The seq the view is exact at. */
    public seq: number,
    private readonly limit: number,
    /** The bus epoch it was started under (see Bus.epoch): once the bus moves on, the view no longer stands. */
    readonly epoch: number,
  ) {}

  /**
   * A view started from a store read, for a project whose envelopes this replica has followed up to `lastSeq`
   * under bus epoch `epoch`.
   */
  static from(read: TopicRead, topic: Topic, userId: string, lastSeq: number | null, limit: number, epoch = 0): ProjectView | null {
    if (lastSeq !== null && lastSeq !== read.seq) return null;
    const view = new ProjectView(read.seq, limit, epoch);
    view.learn(read, topic, userId);
    return view;
  }

  /** Takes what a store read at the view's seq tells (a read at another seq is not used). */
  learn(read: TopicRead, topic: Topic, userId: string): void {
    if (read.seq !== this.seq) return;
    this.project = read.project;
    this.members.set(userId, read.member && accessFacts(read.member));
    if (topic.kind === 'requests' && read.member && viewerOf(read.member, userId)?.scope === 'all' && read.requests) {
      this.list = { requests: [...read.requests], whole: read.requests.length < this.limit };
      this.frozen = Object.isFrozen(read.requests) ? read.requests : null;
    }
  }

  /** Follows the next envelope; false when it does not follow the view's seq (the caller drops the view). */
  follow(env: Envelope): boolean {
    if (env.seq <= this.seq) return true; // already in the read this view started from
    if (env.seq !== this.seq + 1) return false;
    this.seq = env.seq;
    const change = env.change;
    switch (change.type) {
      case 'request':
        this.relist(change.prev, change.next);
        break;
      case 'request_removed':
        this.relist(change.prev, null);
        break;
      case 'project_user':
        moveMember(this.members, change);
        this.membersLoad?.push({ seq: env.seq, change });
        break;
      case 'project':
        this.project = change.next;
        break;
      default:
        break;
    }
    if (this.membersAhead && this.membersAhead.seq === this.seq) this.adoptMembers(this.membersAhead.members);
    return true;
  }

  /** Whether a load of every membership would help: none is loaded, out or waiting. */
  get wantsMembers(): boolean {
    return !this.allMembers && this.membersLoad === null && this.membersAhead === null && Date.now() >= this.noLoadBefore;
  }

  /** A readMembers is going out: the changes followed from now on are kept to bring its answer up to date. */
  loadingMembers(): void {
    this.membersLoad = [];
  }

  /** Its answer (or undefined: it failed). It is taken at or after the seq where it was asked for. */
  membersLoaded(read: MembersRead | undefined): void {
    const since = this.membersLoad;
    this.membersLoad = null;
    if (!since) return;
    if (!read) {
      this.noLoadBefore = Date.now() + MEMBERS_RETRY_MS;
      return;
    }
    const members = new Map<string, ProjectUserDoc | null>();
    for (const [userId, pu] of read.members) members.set(userId, accessFacts(pu));
    if (read.seq > this.seq) {
      this.membersAhead = { seq: read.seq, members };
      return;
    }
    // Answered at or behind where the view stands: the changes followed since bring it here.
    for (const { seq, change } of since) if (seq > read.seq) moveMember(members, change);
    this.adoptMembers(members);
  }

  private adoptMembers(members: Map<string, ProjectUserDoc | null>): void {
    this.members = members;
    this.allMembers = true;
    this.membersAhead = null;
  }

  /** The read a subscribe would get from the store at this seq, or undefined when the view does not know it. */
  read(topic: Topic, userId: string): TopicRead | undefined {
    if (this.project === undefined) return undefined;
    const member = this.members.has(userId) ? (this.members.get(userId) ?? null) : this.allMembers ? null : undefined;
    if (member === undefined) return undefined;
    const read: TopicRead = { seq: this.seq, project: this.project, member };
    const viewer = viewerOf(member, userId);
    if (!viewer) return topic.kind === 'requests' ? { ...read, requests: [] } : read; // refused from the membership alone
    if (topic.kind !== 'requests' || viewer.scope !== 'all' || !this.list) return undefined;
    this.frozen ??= Object.freeze([...this.list.requests]);
    return { ...read, requests: this.frozen as RequestDoc[] };
  }

  /**
   * Moves one request in the see-all list. A cut list (not `whole`) is exact up to its last element, the
   * boundary: every listed request it does not hold sorts after that one. After the change, what sorts before the
   * boundary (the boundary too, if it is still there unchanged) is known; the list is kept when that is at least
   * `limit` requests, and forgotten otherwise (the newest it cannot see might be next).
   */
  private relist(prev: RequestDoc | null, next: RequestDoc | null): void {
    const list = this.list;
    if (!list) return;
    const wasListed = prev !== null && isListed(prev);
    const now = next !== null && isListed(next);
    if (!wasListed && !now) return;
    const old = list.requests;
    const boundary = old[old.length - 1];
    const requests = old.filter((r) => r.request_id !== prev?.request_id && r.request_id !== next?.request_id);
    if (now) requests.splice(insertionPoint(requests, next), 0, next);
    if (list.whole) {
      const whole = requests.length <= this.limit;
      if (!whole) requests.length = this.limit;
      this.keepList(requests, whole);
      return;
    }
    if (boundary === undefined) return this.forgetList();
    // Known: what sorts before the boundary, and the boundary itself if it is still there unchanged.
    let known = requests.indexOf(boundary) + 1;
    if (known === 0) known = insertionPoint(requests, boundary);
    if (known < this.limit) return this.forgetList();
    requests.length = this.limit;
    this.keepList(requests, false);
  }

  private keepList(requests: RequestDoc[], whole: boolean): void {
    this.list = { requests, whole };
    this.frozen = null;
  }

  private forgetList(): void {
    this.list = null;
    this.frozen = null;
  }
}

/** Where `doc` goes in a list sorted newest first (after the elements that sort before or equal to it). */
function insertionPoint(sorted: readonly RequestDoc[], doc: RequestDoc): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (newestFirst(sorted[mid]!, doc) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
