/**
 * Members with a numeric score, kept in ascending (score, member) order: the memory engine's counterpart of a
 * Redis sorted set, for the metrics' order statistics (oldest waiting request, median first response) and
 * time windows. Updates cost a binary search and one array splice; reads by rank are direct.
 */
export class SortedScores {
  private readonly scores = new Map<string, number>();
  private readonly order: Array<{ member: string; score: number }> = [];

  get size(): number {
    return this.order.length;
  }

  score(member: string): number | undefined {
    return this.scores.get(member);
  }

  /** Adds the member, or moves it to its new score. */
  set(member: string, score: number): void {
    this.delete(member);
    this.scores.set(member, score);
    this.order.splice(this.rank(member, score), 0, { member, score });
  }

  delete(member: string): boolean {
    const score = this.scores.get(member);
    if (score === undefined) return false;
    this.scores.delete(member);
    this.order.splice(this.rank(member, score), 1);
    return true;
  }

  /** The entry at rank `i` (0 = lowest score). */
  at(i: number): { member: string; score: number } | undefined {
    return this.order[i];
  }

  /** Removes every member scored at or below `max`, returning them. */
  removeUpTo(max: number): Array<{ member: string; score: number }> {
    let n = 0;
    while (n < this.order.length && this.order[n]!.score <= max) n++;
    const out = this.order.splice(0, n);
    for (const e of out) this.scores.delete(e.member);
    return out;
  }

  /** Where (member, score) is or would go. */
  private rank(member: string, score: number): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.order[mid]!;
      if (e.score < score || (e.score === score && e.member < member)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
