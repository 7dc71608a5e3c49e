import type { Logger } from 'pino';
import { ProjectMetrics } from '../analytics/metrics-shape';
import { publishFrame } from '../protocol/frames';
import { topics } from '../protocol/topic-grammar';
import { ReadModel } from '../store/read-model';
import { OutboundFrame } from './outbound-frame';
import { Subscription } from './subscription-registry';

interface ProjectFeed {
  /** When the last read started (ms), to keep UPDATEs METRICS_INTERVAL_MS apart. */
  lastReadAt: number;
  /** Something changed since the last read started. */
  dirty: boolean;
  reading: boolean;
  timer: NodeJS.Timeout | null;
  /** Fires when a flow window next loses an entry: the figures move then with no event at all. */
  expiry: NodeJS.Timeout | null;
  /**
   * The last object sent, without generated_at, so that an identical one is not sent again. The ages are part
   * of it: a change that moved the waiting requests but no count must still reach the clients.
   */
  lastSent: string | null;
}

/**
 * The live side of T8 `/P/metrics` on one replica: a project whose metrics may have moved (an applied change,
 * a window entry ageing out) is read once, at most every METRICS_INTERVAL_MS, and the object goes to every live
 * `/P/metrics` subscription of this replica as one `UPDATE` frame built once. Each replica reads the shared
 * state itself (the same numbers on every replica: the engine computes them at read time from state it
 * commits with every change); nothing is read for a project nobody here watches.
 */
export class MetricsFeed {
  private readonly feeds = new Map<string, ProjectFeed>();

  constructor(
    private readonly store: ReadModel,
    private readonly intervalMs: number,
    private readonly log: Logger,
    /** The live `/P/metrics` subscriptions of a project on this replica. */
    private readonly watchers: (projectId: string) => Iterable<Subscription>,
  ) {}

  /** Something the metrics depend on changed in the project. */
  changed(projectId: string): void {
    const feed = this.feed(projectId);
    feed.dirty = true;
    this.schedule(projectId, feed);
  }

  /**
   * A subscription got `snapshot`: later reads compare against it (no UPDATE repeats it), and one read within
   * the interval arms the window timer.
   */
  subscribed(projectId: string, snapshot: ProjectMetrics | null): void {
    const fresh = !this.feeds.has(projectId);
    const feed = this.feed(projectId);
    if (fresh && snapshot) feed.lastSent = withoutTime(snapshot);
    feed.dirty = true;
    this.schedule(projectId, feed);
  }

  /** The project's last `/P/metrics` subscription on this replica went: nothing is read for it any more. */
  forget(projectId: string): void {
    const feed = this.feeds.get(projectId);
    if (!feed || !isEmpty(this.watchers(projectId))) return;
    clear(feed);
    this.feeds.delete(projectId);
  }

  /** Stops every timer (shutdown). */
  stop(): void {
    for (const feed of this.feeds.values()) clear(feed);
    this.feeds.clear();
  }

  private feed(projectId: string): ProjectFeed {
    let feed = this.feeds.get(projectId);
    if (!feed) {
      feed = { lastReadAt: 0, dirty: false, reading: false, timer: null, expiry: null, lastSent: null };
      this.feeds.set(projectId, feed);
    }
    return feed;
  }

  private schedule(projectId: string, feed: ProjectFeed): void {
    if (feed.timer || feed.reading) return; // a read is due or under way; it re-checks `dirty` when it ends
    const wait = Math.max(0, feed.lastReadAt + this.intervalMs - Date.now());
    feed.timer = setTimeout(() => void this.run(projectId, feed), wait);
    feed.timer.unref();
  }

  private async run(projectId: string, feed: ProjectFeed): Promise<void> {
    feed.timer = null;
    if (this.feeds.get(projectId) !== feed) return;
    if (isEmpty(this.watchers(projectId))) {
      clear(feed);
      this.feeds.delete(projectId);
      return;
    }
    feed.dirty = false;
    feed.reading = true;
    feed.lastReadAt = Date.now();
    try {
      const read = await this.store.readMetrics(projectId);
      const text = withoutTime(read.metrics);
      if (text !== feed.lastSent) {
        feed.lastSent = text;
        const topic = topics.metrics(projectId);
        const frame = OutboundFrame.of(publishFrame(topic, 'UPDATE', read.metrics), topic);
        // A subscription whose snapshot is of a later seq already has a newer object.
        for (const sub of this.watchers(projectId)) if (sub.snapshotSeq <= read.seq) sub.sink.send(frame);
      }
      this.armExpiry(projectId, feed, read.nextExpiryMs, Date.parse(read.metrics.generated_at));
    } catch (err) {
      this.log.warn({ err, project: projectId }, 'metrics read failed; retrying');
      feed.dirty = true;
    } finally {
      feed.reading = false;
    }
    if (feed.dirty && this.feeds.get(projectId) === feed) this.schedule(projectId, feed);
  }

  /** `at` and `now` on the engine's clock: the delay is what counts, whatever this replica's clock says. */
  private armExpiry(projectId: string, feed: ProjectFeed, at: number | null, now: number): void {
    if (feed.expiry) clearTimeout(feed.expiry);
    feed.expiry = null;
    if (at === null) return;
    feed.expiry = setTimeout(
      () => {
        feed.expiry = null;
        if (this.feeds.get(projectId) === feed) this.changed(projectId);
      },
      Math.min(MAX_DELAY_MS, Math.max(0, at - now) + 1),
    );
    feed.expiry.unref();
  }
}

function withoutTime(m: ProjectMetrics): string {
  return JSON.stringify({ ...m, generated_at: undefined });
}

/** setTimeout's longest delay (about 24.8 days); a longer one would fire at once. */
const MAX_DELAY_MS = 2 ** 31 - 1;

function isEmpty(subs: Iterable<Subscription>): boolean {
  for (const _ of subs) return false;
  return true;
}

function clear(feed: ProjectFeed): void {
  if (feed.timer) clearTimeout(feed.timer);
  if (feed.expiry) clearTimeout(feed.expiry);
  feed.timer = null;
  feed.expiry = null;
}
