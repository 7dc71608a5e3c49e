import { Scope, Viewer, memberUserId, scopeOf, viewerKey } from '../../access/member-access';
import { Envelope } from '../../domain/changes';
import { DomainEvent } from '../../domain/domain-events';
import {
  BotDoc,
  EventDoc,
  MessageDoc,
  ProjectDoc,
  ProjectUserDoc,
  REQUEST_STATUS,
  RequestDoc,
  isListed,
  timeOf,
} from '../../domain/documents';
import type Redis from 'ioredis';
import { RedisClient, RedisConnections, isConnectionError } from '../../engine/redis-connections';
import { memberProjectOf, sortMemberProjects } from '../../analytics/member-projects';
import { METRIC_COUNTERS, memberOps, requestOps } from '../../analytics/metrics-ops';
import { MemberProject } from '../../analytics/metrics-shape';
import {
  DEFAULT_METRICS_SETTINGS,
  MetricsSettings,
  MetricsState,
  buildProjectMetrics,
  emptyCounters,
} from '../../analytics/project-metrics';
import { Topic } from '../../protocol/topic-grammar';
import { WriteOp, planApply, sortNewestFirst } from '../apply-plan';
import { ApplyOutcome, HistoryLimits, MembersRead, MetricsRead, ReadModel, TopicRead } from '../read-model';
import { MembersReply, READ_MEMBERS_SCRIPT, membersReadOf } from './members-read';
import {
  COMMIT_SCRIPT,
  LIST_OPEN_SCRIPT,
  MEMBERSHIP_SCRIPT,
  METRICS_PRUNE_SCRIPT,
  METRICS_SCRIPT,
  READ_TOPIC_SCRIPT,
} from './redis-scripts';
import { Cmd, GuessCache } from './guess-cache';
import { ObservedValues, ReadSetReader, VersionedReads } from './read-set-reader';

export interface RedisReadModelOptions {
  history: HistoryLimits;
  closedRequestTtlS: number;
  eventsTtlS: number;
  dedupeTtlS: number;
  /** DELETE_TOMBSTONE_TTL_S: how long a delete keeps older versions of what it deleted out (default closedRequestTtlS). */
  tombstoneTtlS?: number;
  /** METRICS_*: the `/P/metrics` window, defaults and target (analytics.md's defaults when absent). */
  metrics?: MetricsSettings;
  /** REDIS_WAIT_REPLICAS / REDIS_WAIT_TIMEOUT_MS (see `replicated`); not on a cluster. */
  wait?: { waitReplicas?: number; waitTimeoutMs?: number };
  /**
   * Told when a commit is retried because another commit changed what it was planned on in the meantime (the
   * Prometheus counter): the version it read moved, or a value Redis told during this apply changed.
   */
  onCommitRetry?: () => void;
  /** Told when a commit is retried because a value this replica guessed was wrong (not a conflict: see apply). */
  onGuessMiss?: () => void;
  /** Channel an envelope is published on (the bus's project channel). */
  channel: (projectId: string) => string;
  now?: () => number;
}

/** Thrown when Redis cannot be reached: callers answer 503 and apply nothing. */
export class EngineUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`redis unavailable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'EngineUnavailableError';
  }
}

/** The scripts, as ioredis exposes them after defineCommand (EVALSHA with a fallback to EVAL). */
interface ScriptCommands {
  rtCommit(verKey: string, seqKey: string, ...args: Array<string | number>): Promise<CommitReply>;
  rtReadTopic(seqKey: string, ...args: string[]): Promise<Array<string | number | null>>;
  rtListOpen(seqKey: string, ...args: string[]): Promise<Array<string | null>>;
  rtMetrics(seqKey: string, base: string, windowMs: number): Promise<[number, RawMetrics]>;
  rtMembership(seqKey: string, base: string, userId: string): Promise<[string | null, string | null]>;
  rtMetricsPrune(seqKey: string, base: string, windowMs: number): Promise<number>;
  rtReadMembers(seqKey: string, base: string): Promise<MembersReply>;
}

/** What the commit script answers: the seq (0 if none), VERSION_MOVED, METRICS_NOT_READY, or a mismatch (see COMMIT_SCRIPT). */
type CommitReply = number | unknown[];

/** What the metrics Lua (mx_read) answers; see redis-scripts.ts. */
type RawMetrics = [number, string[], number, string | null, number, number, string[], Array<string | null>, number];

/**
 * The Redis engine's read model. Layout (all keys of project P under `<prefix>{P}:`, one cluster slot):
 * `seq` (last published sequence number), `ver` (write version, bumped by every commit), `life` (TIME of the
 * first publishing commit since the data was created or wiped), `project` (JSON),
 * `req` (hash request_id → JSON), `roid` (hash _id → request_id), `open` (zset of listed request_ids by
 * updatedAt), `open:p:<user>` / `open:a:<user>` (the same, per participant / per snapshot agent), `closed`
 * (zset request_id by closing time, for CLOSED_REQUEST_TTL_S), `msg:<rid>` + `msgz:<rid>` (messages by id,
 * and their ids by createdAt, capped), `pu` (hash project_user id → JSON), `pu:user` / `pu:uuid` (user id or
 * uuid → project_user id), `scope` (hash user id → request scope, '' for non-members), `ev:<pu>:<name>` +
 * `evz:<pu>:<name>` (events by id, ids by time, capped) and `evn:<pu>` (set of names), `bot` (hash id → JSON),
 * `tomb` (hash tombstone key `r:<request_id>` / `o:<_id>` / `pu:<_id>` → when the delete was accepted, ms) and
 * `tombz` (zset of the same keys by that time, for the sweep of tombstones past DELETE_TOMBSTONE_TTL_S).
 * Global: `<prefix>projects` (set of project ids, for sweeps), `<prefix>dedupe:<id>` (ingest ids, with TTL).
 *
 * An apply plans with the shared planner on values it guesses (what this replica saw stored, else absent), then
 * commits with one script that checks every value the plan read against Redis, and the write version where the
 * plan read lists (optimistic concurrency: a wrong guess or a concurrent commit makes it plan again), writes,
 * numbers the change and publishes its envelope in the same atomic step: two replicas can never store or publish
 * an older version over a newer one, and a publish is never lost between write and send.
 */
export class RedisReadModel extends ReadModel {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  private readonly scripts: ScriptCommands;
  /** Projects this replica registered for the sweeps (a project's first commit, seq 1, registers it in any case). */
  private readonly knownProjects = new Set<string>();
  /** See-all `/P/requests` lists by project at one seq, reused by the subscribes that read the same seq. */
  private readonly sharedOpen = new SharedOpenLists();
  /** Per project, the `/P/requests` read that later subscribes wait for while no list is shared yet. */
  private readonly listReads = new Map<string, Promise<void>>();
  /** Await the version read before the plan's reads (on a cluster; see apply). */
  private readonly verFirst: boolean;
  private readonly tombstoneTtlMs: number;
  private readonly metricsSettings: MetricsSettings;
  /** Values of planned-on keys this replica saw stored: the guesses of the next plans (bounded; see GuessCache). */
  private readonly guesses = new GuessCache();

  constructor(
    connections: RedisConnections,
    private readonly opts: RedisReadModelOptions,
  ) {
    super();
    this.redis = connections.command;
    this.prefix = connections.prefix;
    this.publishCommand = connections.isCluster ? 'SPUBLISH' : 'PUBLISH';
    this.verFirst = connections.isCluster;
    this.now = opts.now ?? Date.now;
    this.tombstoneTtlMs = (opts.tombstoneTtlS ?? opts.closedRequestTtlS) * 1000;
    this.metricsSettings = opts.metrics ?? DEFAULT_METRICS_SETTINGS;
    this.redis.defineCommand('rtCommit', { numberOfKeys: 2, lua: COMMIT_SCRIPT });
    this.redis.defineCommand('rtMetrics', { numberOfKeys: 1, lua: METRICS_SCRIPT });
    this.redis.defineCommand('rtMembership', { numberOfKeys: 1, lua: MEMBERSHIP_SCRIPT });
    this.redis.defineCommand('rtMetricsPrune', { numberOfKeys: 1, lua: METRICS_PRUNE_SCRIPT });
    this.redis.defineCommand('rtReadTopic', { numberOfKeys: 1, lua: READ_TOPIC_SCRIPT });
    this.redis.defineCommand('rtListOpen', { numberOfKeys: 1, lua: LIST_OPEN_SCRIPT });
    this.redis.defineCommand('rtReadMembers', { numberOfKeys: 1, lua: READ_MEMBERS_SCRIPT });
    this.scripts = this.redis as unknown as ScriptCommands;
  }

  base(projectId: string): string {
    return `${this.prefix}{${projectId}}:`;
  }

  /**
   * One round trip in the common case: the plan is made on values this replica guesses (its cache of what it saw
   * stored, else absent), and the commit checks each of them against Redis before it writes (see COMMIT_SCRIPT). A
   * wrong guess writes nothing and answers the values, and the event is planned again on them: two round trips,
   * what reading first cost before. Plans that read what no value check covers (a project.update reads every
   * member, a project_user whose scope changes reads lists) read that under the write version, as before.
   */
  async apply(event: DomainEvent, acceptedAt: number): Promise<ApplyOutcome> {
    const base = this.base(event.projectId);
    const observed = new ObservedValues(this.guesses);
    const live = this.versionedReads(base);
    return this.guard(async () => {
      let conflicts = 0;
      // Another commit changed what this plan stood on: counted, and tried again after a back-off, a few times.
      const conflict = async (): Promise<void> => {
        this.opts.onCommitRetry?.();
        if (conflicts >= MAX_ATTEMPTS) throw tooBusy(event.projectId, `${conflicts} version conflicts`);
        await backoff(conflicts++);
      };
      for (let attempt = 0; ; attempt++) {
        const reader = new ReadSetReader(base, this.guesses, observed, live);
        const plan = await planApply(event, reader, {
          requestsLimit: this.opts.history.requests,
          now: this.now(),
          acceptedAt,
          tombstoneTtlMs: this.tombstoneTtlMs,
        });
        const cmds = (plan.ops ?? []).flatMap((op) => this.commands(base, op));
        // Metrics move by differences: they need state that agrees with the documents (see rebuildMetrics). The
        // windows are cut when read and by the sweep, not here: cutting them in every commit cost ingest 15-20 %.
        if (plan.ops?.some(isMetricsOp)) cmds.unshift(['MX_GUARD', base]);
        const publishing = plan.outcome === 'applied';
        // Stale or duplicate on values Redis answered together a moment ago: as final as a read, nothing to check.
        if (!publishing && cmds.length === 0 && reader.answeredByLatestReply()) return { outcome: plan.outcome };
        const publish = publishing
          ? [
              this.publishCommand,
              this.opts.channel(event.projectId),
              `{"projectId":${JSON.stringify(event.projectId)},"seq":`,
              `,"acceptedAt":${acceptedAt},"change":${JSON.stringify(plan.change)}}`,
            ]
          : ['', '', '', ''];
        const commit = this.scripts.rtCommit(
          `${base}ver`,
          `${base}seq`,
          await reader.version(),
          ...publish,
          ...reader.args(),
          ...flatten(cmds),
        );
        // Housekeeping that must not be lost (a tombstone of a delete that came before its create) is confirmed like
        // a publishing commit; a commit that only checks its reads writes nothing to wait for.
        const res = cmds.length > 0 || publishing ? await this.replicated(commit) : await commit;
        if (Array.isArray(res)) {
          // Nothing written: plan again on the values the reply carries. Only a value Redis itself told during this
          // apply that changed since is a conflict with another commit; a wrong guess is not, and waits for nothing.
          if (observed.record(reader.reads, res)) {
            await conflict();
          } else {
            this.opts.onGuessMiss?.();
            if (attempt >= 2 * MAX_ATTEMPTS) throw tooBusy(event.projectId, `${attempt} attempts`);
          }
          continue;
        }
        if (res === METRICS_NOT_READY) {
          await this.rebuildMetrics(event.projectId);
          continue;
        }
        if (res === VERSION_MOVED) {
          await conflict();
          continue;
        }
        this.guesses.learn(cmds, this.guessed(base));
        if (!publishing) {
          // A project that so far only had writes of this kind must still be swept (its tombstones expire).
          if (cmds.length > 0) this.registerProject(event.projectId, false);
          return { outcome: plan.outcome };
        }
        // seq 1: the project's data was just created, or Redis was wiped since: register it (again) in any case.
        this.registerProject(event.projectId, res === 1);
        const envelope: Envelope = { projectId: event.projectId, seq: res, acceptedAt, change: plan.change };
        return { outcome: 'applied', envelope, published: true };
      }
    });
  }

  /**
   * With REDIS_WAIT_REPLICAS, a commit that wrote is confirmed only once that many replicas have it: a WAIT sent
   * right behind it (the command connection pipelines both into one write, one round trip). Fewer replicas within
   * REDIS_WAIT_TIMEOUT_MS: the engine counts as unavailable, so the event is not acknowledged and its sender retries
   * (applied on the primary already, the retry is a duplicate). A conflict, a mismatch or a rebuild request wrote
   * nothing and is answered as is.
   */
  private async replicated<T extends CommitReply>(commit: Promise<T>): Promise<T> {
    const { waitReplicas = 0, waitTimeoutMs = 1000 } = this.opts.wait ?? {};
    if (waitReplicas <= 0) return commit;
    const waited = (this.redis as Redis).wait(waitReplicas, waitTimeoutMs);
    waited.catch(() => undefined); // awaited below, after the commit's own outcome
    const result = await commit;
    if (Array.isArray(result) || result === VERSION_MOVED || result === METRICS_NOT_READY) {
      await waited.catch(() => undefined);
      return result;
    }
    const acked = await waited;
    if (acked < waitReplicas) {
      throw new EngineUnavailableError(
        new Error(`only ${acked} of ${waitReplicas} replicas confirmed the write within ${waitTimeoutMs} ms (REDIS_WAIT_REPLICAS)`),
      );
    }
    return result;
  }

  /** Adds the project to the set the sweeps walk, once per replica, or again when `force`. */
  private registerProject(projectId: string, force: boolean): void {
    if (!force && this.knownProjects.has(projectId)) return;
    this.knownProjects.add(projectId);
    void this.redis.sadd(`${this.prefix}projects`, projectId).catch(() => this.knownProjects.delete(projectId));
  }

  async readForSubscribe(topic: Topic, userId: string): Promise<TopicRead> {
    let shared: SharedOpenList | undefined;
    let lead: (() => void) | null = null;
    if (topic.kind === 'requests') {
      shared = this.sharedOpen.get(topic.projectId, this.now());
      const leading = shared ? undefined : this.listReads.get(topic.projectId);
      if (leading) {
        // Another subscribe is reading this project's list: its answer is likely the list this one needs.
        await leading;
        shared = this.sharedOpen.get(topic.projectId, this.now());
      } else if (!shared) {
        lead = this.leadListRead(topic.projectId);
      }
    }
    try {
      return await this.readTopic(topic, userId, shared);
    } finally {
      lead?.();
    }
  }

  /**
   * Marks a `/P/requests` read of a project that has no shared list yet as the one the others wait for, so
   * that a reconnect storm reads the documents once per project (then answers '=') instead of once per
   * subscribe that started before the first answer came back. Returns what ends the wait.
   */
  private leadListRead(projectId: string): () => void {
    let release!: () => void;
    this.listReads.set(projectId, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.listReads.delete(projectId);
      release();
    };
  }

  /** One read script call; `shared`: the see-all list this replica holds for the project, if any. */
  private async readTopic(topic: Topic, userId: string, shared: SharedOpenList | undefined): Promise<TopicRead> {
    const base = this.base(topic.projectId);
    const args = this.topicArgs(topic);
    const minEventScore = String(this.now() - this.opts.eventsTtlS * 1000);
    const res = await this.guard(() =>
      this.scripts.rtReadTopic(
        `${base}seq`,
        base,
        topic.kind,
        userId,
        args.a,
        args.b,
        String(args.limit),
        minEventScore,
        shared ? String(shared.seq) : '',
        shared ? shared.life : '',
      ),
    );
    const [seq, project, member, scope] = res as [number, string | null, string | null, string | null];
    const read: TopicRead = { seq: Number(seq), project: parse<ProjectDoc>(project), member: parse<ProjectUserDoc>(member) };
    const rest = res.slice(4) as Array<string | null>;
    switch (topic.kind) {
      case 'requests': {
        const life = rest[0] ?? '';
        const list = rest.slice(1);
        if (shared && list.length === 1 && list[0] === SAME_LIST) {
          read.requests = shared.requests;
        } else {
          read.requests = sortNewestFirst(pairs(list).map(([, json]) => JSON.parse(json) as RequestDoc)).slice(
            0,
            this.opts.history.requests,
          );
          if (scope === 'all' && life !== '') {
            read.requests = this.sharedOpen.put(topic.projectId, { seq: read.seq, life, requests: read.requests }, this.now());
          }
        }
        break;
      }
      case 'request':
        read.request = parse<RequestDoc>(rest[0] ?? null);
        break;
      case 'messages':
        read.request = parse<RequestDoc>(rest[0] ?? null);
        read.messages = (rest.slice(1) as string[]).map((j) => JSON.parse(j) as MessageDoc);
        break;
      case 'project_user':
      case 'project_user_by_user':
        read.target = parse<ProjectUserDoc>(rest[0] ?? null);
        break;
      case 'events':
        read.events = pairs(rest).map(([, json]) => JSON.parse(json) as EventDoc);
        break;
      case 'bot':
        read.bot = parse<BotDoc>(rest[0] ?? null);
        break;
      case 'metrics': {
        const raw = res[4] as unknown as RawMetrics;
        // Documents without metrics state yet: rebuilt once, then read on their own (the seq of this read still holds).
        read.metrics = this.needsRebuild(raw)
          ? (await this.readMetrics(topic.projectId)).metrics
          : buildProjectMetrics(topic.projectId, this.metricsState(raw), this.metricsSettings);
        break;
      }
    }
    return read;
  }

  async readMembers(projectId: string): Promise<MembersRead> {
    const base = this.base(projectId);
    return membersReadOf(await this.guard(() => this.scripts.rtReadMembers(`${base}seq`, base)));
  }

  async readMetrics(projectId: string): Promise<MetricsRead> {
    const base = this.base(projectId);
    const windowMs = this.metricsSettings.windowS * 1000;
    let [seq, raw] = await this.guard(() => this.scripts.rtMetrics(`${base}seq`, base, windowMs));
    if (this.needsRebuild(raw)) {
      await this.rebuildMetrics(projectId);
      [seq, raw] = await this.guard(() => this.scripts.rtMetrics(`${base}seq`, base, windowMs));
    }
    const state = this.metricsState(raw);
    return { seq: Number(seq), metrics: buildProjectMetrics(projectId, state, this.metricsSettings), nextExpiryMs: state.nextExpiryMs };
  }

  /**
   * Reads the user's membership in every project the sweeps know, one small script per project (each on its
   * project's slot, so this works on a cluster too); projects are read 100 at a time.
   */
  async memberProjects(userId: string): Promise<MemberProject[]> {
    const projects = await this.guard(() => this.redis.smembers(`${this.prefix}projects`));
    const out: MemberProject[] = [];
    for (let from = 0; from < projects.length; from += 100) {
      const slice = projects.slice(from, from + 100);
      const rows = await this.guard(() =>
        Promise.all(slice.map((p) => this.scripts.rtMembership(`${this.base(p)}seq`, this.base(p), userId))),
      );
      rows.forEach(([project, member], i) => {
        const entry = memberProjectOf(slice[i]!, parse<ProjectDoc>(project), parse<ProjectUserDoc>(member), userId);
        if (entry) out.push(entry);
      });
    }
    return sortMemberProjects(out);
  }

  /** The project holds documents but no metrics state: written by a version without metrics, or its `mx` keys were lost. */
  private needsRebuild(raw: RawMetrics): boolean {
    return raw[8] === 0;
  }

  /**
   * Recomputes a project's metrics state from its documents, in one commit checked against the version it read
   * (retried on a conflict): what is open and waiting, the members and their capacity, and the windows as far
   * as the documents tell (each request's arrival, first response and close, by their own times). Runs once
   * for a project whose documents were stored without the metrics, before its next metrics write or read.
   */
  async rebuildMetrics(projectId: string): Promise<void> {
    const base = this.base(projectId);
    const r = this.redis;
    await this.guard(async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const [ver, requests, members, project] = await Promise.all([
          r.get(`${base}ver`),
          r.hvals(`${base}req`),
          r.hvals(`${base}pu`),
          r.get(`${base}project`),
        ]);
        const projectDoc = parse<ProjectDoc>(project);
        const now = this.now();
        const ops: WriteOp[] = [];
        for (const json of requests) ops.push(...requestOps(null, JSON.parse(json) as RequestDoc, now));
        for (const json of members) ops.push(...memberOps(null, JSON.parse(json) as ProjectUserDoc, projectDoc));
        const keys = ['mx', 'mx:wait', 'mx:arr', 'mx:cls', 'mx:hdl', 'mx:frt', 'mx:frd'].map((k) => `${base}${k}`);
        const cmds: Cmd[] = [
          ['DEL', ...keys],
          ...ops.flatMap((op) => this.commands(base, op)),
          ['HSET', `${base}mx`, 'v', 1],
          ['MX_PRUNE', base, this.metricsSettings.windowS * 1000],
        ];
        const res = await this.scripts.rtCommit(`${base}ver`, `${base}seq`, ver ?? '0', '', '', '', '', '0', ...flatten(cmds));
        if (res !== VERSION_MOVED) return;
        await backoff(attempt);
      }
      throw new EngineUnavailableError(new Error(`project ${projectId} too busy to rebuild its metrics`));
    });
  }

  private metricsState(raw: RawMetrics): MetricsState {
    const [now, flat, waitCount, oldest, arrivals, closures, middle, firsts] = raw;
    const hash = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) hash.set(flat[i]!, flat[i + 1]!);
    const counters = emptyCounters();
    for (const k of METRIC_COUNTERS) counters[k] = Number(hash.get(k) ?? 0);
    const windowMs = this.metricsSettings.windowS * 1000;
    const starts = firsts.filter((f): f is string => f !== null).map(Number);
    const mid = middle.map(Number);
    return {
      now: Number(now),
      counters,
      waiting: {
        count: Number(waitCount),
        createdSumMs: BigInt(hash.get('wsum') ?? '0'),
        oldestCreatedMs: oldest === null ? null : Number(oldest),
      },
      arrivals: Number(arrivals),
      closures: Number(closures),
      handled: { count: Number(hash.get('hn') ?? 0), sumMs: Number(hash.get('hsum') ?? 0) },
      medianFirstResponseMs: mid.length === 0 ? null : mid.reduce((a, b) => a + b, 0) / mid.length,
      nextExpiryMs: starts.length === 0 ? null : Math.min(...starts) + windowMs,
    };
  }

  async isDuplicateEventId(id: string): Promise<boolean> {
    return this.guard(async () => (await this.redis.exists(`${this.prefix}dedupe:${id}`)) === 1);
  }

  async rememberEventId(id: string): Promise<void> {
    if (this.opts.dedupeTtlS <= 0) return;
    await this.guard(() => this.redis.set(`${this.prefix}dedupe:${id}`, '1', 'EX', this.opts.dedupeTtlS));
  }

  /**
   * Removes closed requests past CLOSED_REQUEST_TTL_S (with their messages) and tombstones past
   * DELETE_TOMBSTONE_TTL_S in every project; events expire as new ones arrive.
   */
  override async sweep(): Promise<void> {
    // The set can be lost while the projects' own keys stay (its node restarted empty on a cluster, evicted):
    // what this replica knows goes back in first.
    if (this.knownProjects.size > 0) await this.redis.sadd(`${this.prefix}projects`, ...this.knownProjects);
    const projects = await this.redis.smembers(`${this.prefix}projects`);
    const now = this.now();
    const cutoff = now - this.opts.closedRequestTtlS * 1000;
    // Scored at or below: deleted at least the TTL ago, as the planner counts a tombstone expired.
    const tombCutoff = now - this.tombstoneTtlMs;
    for (const projectId of projects) {
      const base = this.base(projectId);
      // The metrics windows of a project nobody reads: what left them goes (reads cut them too).
      await this.scripts.rtMetricsPrune(`${base}seq`, base, this.metricsSettings.windowS * 1000);
      for (let attempt = 0; attempt < 20; attempt++) {
        const ver = (await this.redis.get(`${base}ver`)) ?? '0';
        const [expired, expiredTombs] = await Promise.all([
          this.redis.zrangebyscore(`${base}closed`, '-inf', cutoff),
          this.redis.zcount(`${base}tombz`, '-inf', tombCutoff),
        ]);
        if (expired.length === 0 && expiredTombs === 0) break;
        const docs = expired.length > 0 ? await this.redis.hmget(`${base}req`, ...expired) : [];
        const cmds: Cmd[] = expiredTombs > 0 ? [['CAPPED_EXPIRE', `${base}tomb`, `${base}tombz`, tombCutoff]] : [];
        expired.forEach((rid, i) => {
          const json = docs[i];
          if (json) cmds.push(...this.commands(base, { op: 'removeRequest', doc: JSON.parse(json) as RequestDoc }));
          else cmds.push(['ZREM', `${base}closed`, rid]);
        });
        const r = await this.scripts.rtCommit(`${base}ver`, `${base}seq`, ver, '', '', '', '', '0', ...flatten(cmds));
        if (r === VERSION_MOVED) continue;
        this.guesses.learn(cmds, this.guessed(base));
        break;
      }
    }
  }

  // ---- plan reads --------------------------------------------------------------------------------

  /** Reads of a plan that no value check covers, made against Redis under the project's write version. */
  private versionedReads(base: string): VersionedReads {
    const r = this.redis;
    return {
      version: () => r.get(`${base}ver`),
      // Not on a cluster: a slot moving between nodes redirects each command on its own, so the order could change.
      versionFirst: this.verFirst,
      projectUsers: async () => Object.values(await r.hgetall(`${base}pu`)).map((j) => JSON.parse(j) as ProjectUserDoc),
      listed: async (viewer: Pick<Viewer, 'scope' | 'userId'>, limit?: number) => {
        const flat = await this.scripts.rtListOpen(`${base}seq`, base, viewer.scope, viewer.userId, String(limit ?? 0));
        const docs = sortNewestFirst(pairs(flat).map(([, json]) => JSON.parse(json) as RequestDoc));
        return limit === undefined ? docs : docs.slice(0, limit);
      },
      point: async (kind, key, field) => {
        if (kind === 'g') return r.get(key);
        if (kind === 'h') return r.hget(key, field);
        return (await r.hexists(key, field)) === 1 ? '1' : null;
      },
    };
  }

  /** The keys of a project worth keeping guesses of: those the planner reads by value, but events (ids never repeat). */
  private guessed(base: string): (key: string) => boolean {
    return (key) => {
      if (!key.startsWith(base)) return false;
      const name = key.slice(base.length);
      return GUESSED_KEYS.has(name) || name.startsWith('msg:');
    };
  }

  // ---- writes ------------------------------------------------------------------------------------

  private commands(base: string, w: WriteOp): Cmd[] {
    switch (w.op) {
      case 'putRequest': {
        const doc = w.doc;
        const out: Cmd[] = w.prev ? this.unindexRequest(base, w.prev) : [];
        out.push(['HSET', `${base}req`, doc.request_id, JSON.stringify(doc)], ['HSET', `${base}roid`, doc._id, doc.request_id]);
        if (isListed(doc)) {
          const score = timeOf(doc.updatedAt) || 0;
          out.push(['ZADD', `${base}open`, score, doc.request_id]);
          for (const u of doc.participants) out.push(['ZADD', `${base}open:p:${u}`, score, doc.request_id]);
          for (const a of doc.snapshot.agents) out.push(['ZADD', `${base}open:a:${a.id_user}`, score, doc.request_id]);
        }
        if (doc.status === REQUEST_STATUS.CLOSED) out.push(['ZADD', `${base}closed`, 'NX', this.now(), doc.request_id]);
        else out.push(['ZREM', `${base}closed`, doc.request_id]);
        return out;
      }
      case 'removeRequest':
        return [
          ...this.unindexRequest(base, w.doc),
          ['HDEL', `${base}req`, w.doc.request_id],
          ['HDEL', `${base}roid`, w.doc._id],
          ['ZREM', `${base}closed`, w.doc.request_id],
          ['CAPPED_DEL', `${base}msg:${w.doc.request_id}`, `${base}msgz:${w.doc.request_id}`],
        ];
      case 'purgeMessages':
        return [['CAPPED_DEL', `${base}msg:${w.requestId}`, `${base}msgz:${w.requestId}`]];
      case 'putMessage': {
        const rid = w.doc.recipient;
        const score = timeOf(w.doc.createdAt) || 0;
        return [
          ['CAPPED_ADD', `${base}msg:${rid}`, `${base}msgz:${rid}`, w.doc._id, score, JSON.stringify(w.doc), this.opts.history.messages],
        ];
      }
      case 'putProjectUser': {
        const out: Cmd[] = w.prev ? this.unindexProjectUser(base, w.prev) : [];
        const doc = w.doc;
        out.push(['HSET', `${base}pu`, doc._id, JSON.stringify(doc)]);
        const uid = memberUserId(doc);
        if (uid !== undefined) {
          out.push(['HSET', `${base}pu:user`, uid, doc._id], ['HSET', `${base}scope`, uid, scopeKey(doc)]);
        }
        if (doc.uuid_user !== undefined) out.push(['HSET', `${base}pu:uuid`, doc.uuid_user, doc._id]);
        return out;
      }
      case 'removeProjectUser':
        return [...this.unindexProjectUser(base, w.doc), ['HDEL', `${base}pu`, w.doc._id]];
      case 'putProject':
        return [['SET', `${base}project`, JSON.stringify(w.doc)]];
      case 'addEvent': {
        const name = w.doc.name;
        const pu = w.projectUserId;
        return [
          ['SADD', `${base}evn:${pu}`, name],
          [
            'CAPPED_ADD',
            `${base}ev:${pu}:${name}`,
            `${base}evz:${pu}:${name}`,
            w.doc._id,
            w.at,
            JSON.stringify(w.doc),
            this.opts.history.events,
          ],
          ['CAPPED_EXPIRE', `${base}ev:${pu}:${name}`, `${base}evz:${pu}:${name}`, this.now() - this.opts.eventsTtlS * 1000 - 1],
        ];
      }
      case 'putBot':
        return [['HSET', `${base}bot`, w.doc._id, JSON.stringify(w.doc)]];
      case 'putTombstone':
        return [
          ['HSET', `${base}tomb`, w.key, w.at],
          ['ZADD', `${base}tombz`, w.at, w.key],
        ];
      case 'dropTombstone':
        return [
          ['HDEL', `${base}tomb`, w.key],
          ['ZREM', `${base}tombz`, w.key],
        ];
      case 'mxCount':
        return Object.entries(w.delta).map(([k, d]): Cmd => ['HINCRBY', `${base}mx`, k, d]);
      case 'mxWait':
        return [['MX_WAIT', base, w.id, w.at ?? '']];
      case 'mxArrival':
        return [['ZADD', `${base}mx:arr`, w.at, w.id]];
      case 'mxClosure':
        return [['MX_CLOSE', base, w.id, w.at, w.handleMs ?? '']];
      case 'mxFirstResponse':
        return [
          ['ZADD', `${base}mx:frt`, w.at, w.id],
          ['ZADD', `${base}mx:frd`, w.responseMs, w.id],
        ];
    }
  }

  private unindexRequest(base: string, doc: RequestDoc): Cmd[] {
    const out: Cmd[] = [['ZREM', `${base}open`, doc.request_id]];
    for (const u of doc.participants) out.push(['ZREM', `${base}open:p:${u}`, doc.request_id]);
    for (const a of doc.snapshot.agents) out.push(['ZREM', `${base}open:a:${a.id_user}`, doc.request_id]);
    return out;
  }

  /**
   * Drops the lookups a project_user owns, only while they still point at it: another project_user of the
   * same user (a membership re-created under a new _id) keeps the user's lookup and scope.
   */
  private unindexProjectUser(base: string, pu: ProjectUserDoc): Cmd[] {
    const out: Cmd[] = [];
    const uid = memberUserId(pu);
    if (uid !== undefined) out.push(['UNLINK_IF', `${base}pu:user`, uid, pu._id, `${base}scope`]);
    if (pu.uuid_user !== undefined) out.push(['UNLINK_IF', `${base}pu:uuid`, pu.uuid_user, pu._id]);
    return out;
  }

  private topicArgs(topic: Topic): { a: string; b: string; limit: number } {
    const h = this.opts.history;
    switch (topic.kind) {
      case 'requests':
        return { a: '', b: '', limit: h.requests };
      case 'request':
        return { a: topic.requestId, b: '', limit: 0 };
      case 'messages':
        return { a: topic.requestId, b: '', limit: h.messages };
      case 'project_user':
        return { a: topic.projectUserId, b: '', limit: 0 };
      case 'project_user_by_user':
        return { a: topic.userKey, b: '', limit: 0 };
      case 'events':
        return { a: topic.projectUserId, b: topic.name ?? '', limit: h.events };
      case 'bot':
        return { a: topic.botId, b: '', limit: 0 };
      case 'metrics':
        return { a: String(this.metricsSettings.windowS * 1000), b: '', limit: 0 };
    }
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isConnectionError(err)) throw new EngineUnavailableError(err);
      throw err;
    }
  }
}

const MAX_ATTEMPTS = 30;

/** What the commit script answers when the write version moved since the plan's versioned reads. */
const VERSION_MOVED = -1;

/** The keys under a project's base whose values the planner reads one by one (ReadSetReader), but events'. */
const GUESSED_KEYS = new Set(['project', 'req', 'roid', 'pu', 'bot', 'tomb']);

function tooBusy(projectId: string, retries: string): EngineUnavailableError {
  return new EngineUnavailableError(new Error(`project ${projectId} too busy: ${retries}`));
}

/** What the commit script answers when the project's metrics state must be rebuilt first (MX_GUARD). */
const METRICS_NOT_READY = -2;

function isMetricsOp(op: WriteOp): boolean {
  return op.op.startsWith('mx');
}

/** What the read script answers instead of the list when the caller already holds it at that seq. */
const SAME_LIST = '=';

/**
 * The see-all `/P/requests` list of recently read projects, each at the seq and life it was read at: a see-all
 * member subscribing while the project's seq is unchanged gets the same list (and the same frame, built once)
 * with no documents read, sent or parsed again. This is what a reconnect storm needs: thousands of members of
 * one project subscribing within a second. The life (stamped by the first publishing commit after the
 * project's data was created or wiped) tells a seq number of today's data from the same number before a Redis
 * restarted empty or flushed. Entries live one second at most and a few dozen projects at once.
 */
class SharedOpenLists {
  private static readonly MAX_PROJECTS = 64;
  private static readonly MAX_AGE_MS = 1000;
  private readonly lists = new Map<string, SharedOpenList & { at: number }>();

  get(projectId: string, now: number): SharedOpenList | undefined {
    const entry = this.lists.get(projectId);
    if (entry && now - entry.at > SharedOpenLists.MAX_AGE_MS) {
      this.lists.delete(projectId);
      return undefined;
    }
    return entry;
  }

  /** Keeps the list (frozen: every reader shares it) and returns it; forgets lists past their age. */
  put(projectId: string, list: SharedOpenList, now: number): RequestDoc[] {
    const requests = Object.freeze(list.requests) as RequestDoc[];
    for (const [id, entry] of this.lists) if (now - entry.at > SharedOpenLists.MAX_AGE_MS) this.lists.delete(id);
    this.lists.delete(projectId);
    this.lists.set(projectId, { ...list, requests, at: now });
    if (this.lists.size > SharedOpenLists.MAX_PROJECTS) this.lists.delete(this.lists.keys().next().value!);
    return requests;
  }
}

interface SharedOpenList {
  seq: number;
  life: string;
  requests: RequestDoc[];
}

/** Jittered exponential back-off between optimistic retries of one project's commit (1 ms to ~50 ms). */
function backoff(attempt: number): Promise<void> {
  const ms = Math.min(50, 2 ** Math.min(attempt, 6)) * Math.random();
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Commands as the commit script takes them: name, argument count, arguments. */
function flatten(cmds: Cmd[]): Array<string | number> {
  const out: Array<string | number> = [];
  for (const [name, ...args] of cmds) out.push(name!, args.length, ...args);
  return out;
}

function scopeKey(pu: ProjectUserDoc): Scope | '' {
  return viewerKey(pu) === null ? '' : scopeOf(pu);
}

function parse<T>(json: string | null): T | null {
  return json === null ? null : (JSON.parse(json) as T);
}

function pairs(flat: Array<string | null>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}
