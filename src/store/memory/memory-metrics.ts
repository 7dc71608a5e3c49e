import { MetricsOp, METRIC_COUNTERS } from '../../analytics/metrics-ops';
import { MetricsState, emptyCounters, medianOf } from '../../analytics/project-metrics';
import { SortedScores } from '../../common/sorted-scores';

/**
 * One project's metrics in the memory engine: the counters, the waiting requests by createdAt, and the flow
 * windows (arrivals, closures with their handle times, first responses with their durations), kept in the
 * same shape as the Redis engine keeps them so both answer alike.
 */
export class MemoryMetrics {
  private readonly counters = emptyCounters();
  private readonly waiting = new SortedScores();
  private waitingSum = 0n;
  private readonly arrivals = new SortedScores();
  private readonly closures = new SortedScores();
  private readonly handleMs = new Map<string, number>();
  private handleSum = 0;
  private readonly responses = new SortedScores();
  /** First responses by duration, for the median. */
  private readonly responseDurations = new SortedScores();

  apply(op: MetricsOp): void {
    switch (op.op) {
      case 'mxCount':
        for (const k of METRIC_COUNTERS) this.counters[k] += op.delta[k] ?? 0;
        return;
      case 'mxWait': {
        const old = this.waiting.score(op.id);
        if (old !== undefined) {
          this.waitingSum -= BigInt(old);
          this.waiting.delete(op.id);
        }
        if (op.at !== null) {
          this.waiting.set(op.id, op.at);
          this.waitingSum += BigInt(op.at);
        }
        return;
      }
      case 'mxArrival':
        this.arrivals.set(op.id, op.at);
        return;
      case 'mxClosure':
        this.dropHandle(op.id);
        this.closures.set(op.id, op.at);
        if (op.handleMs !== null) {
          this.handleMs.set(op.id, op.handleMs);
          this.handleSum += op.handleMs;
        }
        return;
      case 'mxFirstResponse':
        this.responses.set(op.id, op.at);
        this.responseDurations.set(op.id, op.responseMs);
        return;
    }
  }

  /** Drops what left the window `(now − windowMs, …]`, then reads the state at `now`. */
  read(now: number, windowMs: number): MetricsState {
    this.prune(now - windowMs);
    const oldest = this.waiting.at(0);
    const firstScores = [this.arrivals.at(0), this.closures.at(0), this.responses.at(0)].filter((e) => e !== undefined);
    return {
      now,
      counters: { ...this.counters },
      waiting: { count: this.waiting.size, createdSumMs: this.waitingSum, oldestCreatedMs: oldest?.score ?? null },
      arrivals: this.arrivals.size,
      closures: this.closures.size,
      handled: { count: this.handleMs.size, sumMs: this.handleSum },
      medianFirstResponseMs: medianOf(this.responseDurations.size, (i) => this.responseDurations.at(i)!.score),
      nextExpiryMs: firstScores.length === 0 ? null : Math.min(...firstScores.map((e) => e.score)) + windowMs,
    };
  }

  /** Forgets window entries scored at or below `cutoff`. */
  prune(cutoff: number): void {
    this.arrivals.removeUpTo(cutoff);
    for (const e of this.closures.removeUpTo(cutoff)) this.dropHandle(e.member);
    for (const e of this.responses.removeUpTo(cutoff)) this.responseDurations.delete(e.member);
  }

  private dropHandle(id: string): void {
    const h = this.handleMs.get(id);
    if (h === undefined) return;
    this.handleSum -= h;
    this.handleMs.delete(id);
  }
}
