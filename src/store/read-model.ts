import { Envelope } from '../domain/changes';
import { DomainEvent } from '../domain/domain-events';
import { BotDoc, EventDoc, MessageDoc, ProjectDoc, ProjectUserDoc, RequestDoc } from '../domain/documents';
import { MemberProject, ProjectMetrics } from '../analytics/metrics-shape';
import { Topic } from '../protocol/topic-grammar';

/**
 * `published`: the engine already published the envelope as part of the apply (Redis does, atomically);
 * otherwise the caller publishes it on the bus.
 */
export type ApplyOutcome = { outcome: 'applied'; envelope: Envelope; published?: boolean } | { outcome: 'stale' | 'duplicate' };

/** Everything a subscribe needs, read at one point of the project's event sequence. */
export interface TopicRead {
  /** The project's sequence number the read reflects: events up to it are in the snapshot. */
  seq: number;
  project: ProjectDoc | null;
  /** The caller's project_user in the topic's project (any status or role), or null. */
  member: ProjectUserDoc | null;
  /** T2/T3: the request named by the topic. */
  request?: RequestDoc | null;
  /** T4/T5: the project_user named by the topic. */
  target?: ProjectUserDoc | null;
  /** T1: open requests the caller may see; T3: messages; T6: events; T7: bot. */
  requests?: RequestDoc[];
  messages?: MessageDoc[];
  events?: EventDoc[];
  bot?: BotDoc | null;
  /** T8: the project's metrics object at this seq. */
  metrics?: ProjectMetrics;
}

/**
 * A project's whole membership at one seq, as the store resolves it: for each user id, the project_user a
 * subscribe of that user finds (any status or role). A user id absent here has none.
 */
export interface MembersRead {
  seq: number;
  project: ProjectDoc | null;
  members: Map<string, ProjectUserDoc>;
}

/** A project's metrics object as one read gives it, for the periodic `/P/metrics` updates. */
export interface MetricsRead {
  seq: number;
  metrics: ProjectMetrics;
  /** When a flow window next loses an entry (ms, engine clock): the figures change then with no event. */
  nextExpiryMs: number | null;
}

export interface HistoryLimits {
  requests: number;
  messages: number;
  events: number;
}

/**
 * The read model port: the state the topics show, built only from ingested events. Every apply is
 * atomic with its staleness and duplicate checks and yields the envelope to publish; every read for a
 * subscribe is consistent with one sequence number.
 */
export abstract class ReadModel {
  /**
   * `acceptedAt` (ms) goes into the envelope, and a delete's tombstone records it: for DELETE_TOMBSTONE_TTL_S an
   * upsert of the deleted document with no stored version and an `updatedAt` not after it is `stale`.
   */
  abstract apply(event: DomainEvent, acceptedAt: number): Promise<ApplyOutcome>;
  abstract readForSubscribe(topic: Topic, userId: string): Promise<TopicRead>;
  /** Every membership of a project at one seq (a replica's view of the project starts from it; see ProjectView). */
  abstract readMembers(projectId: string): Promise<MembersRead>;
  /** The `/P/metrics` object of a project, computed from state the engine keeps up with every commit. */
  abstract readMetrics(projectId: string): Promise<MetricsRead>;
  /** The projects in which the user is an active agent-type member, with the role (`GET /v1/me/projects`). */
  abstract memberProjects(userId: string): Promise<MemberProject[]>;
  /** True when an event id was applied within the dedupe window. */
  abstract isDuplicateEventId(id: string): Promise<boolean>;
  abstract rememberEventId(id: string): Promise<void>;
  /** Housekeeping run periodically: closed requests past CLOSED_REQUEST_TTL_S, expired tombstones and dedupe ids. */
  abstract sweep(): Promise<void> | void;
}
