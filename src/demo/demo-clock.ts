/**
 * Timestamps for simulated documents. Each call returns a strictly later instant than the previous one
 * (at least 1 ms apart), so every update the simulator sends is newer than the stored document and is
 * never dropped as stale, even when many events are produced within one millisecond.
 */
export class MonotonicClock {
  private last = 0;

  constructor(private readonly now: () => number = Date.now) {}

  nextMs(): number {
    this.last = Math.max(this.now(), this.last + 1);
    return this.last;
  }

  next(): string {
    return new Date(this.nextMs()).toISOString();
  }
}
