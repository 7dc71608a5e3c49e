import { CONNECTION_RATE_WINDOW_MS } from './connection-limits';

/** Times of the events within the last CONNECTION_RATE_WINDOW_MS, oldest first. */
export class SlidingWindow {
  readonly times: number[] = [];

  prune(now: number): void {
    const from = now - CONNECTION_RATE_WINDOW_MS;
    let drop = 0;
    while (drop < this.times.length && this.times[drop]! <= from) drop++;
    if (drop > 0) this.times.splice(0, drop);
  }

  /** Until the oldest event leaves the window. */
  retryAfter(now: number): number {
    return this.times[0]! + CONNECTION_RATE_WINDOW_MS - now;
  }
}

/**
 * Sliding windows by key, kept small: a key is created only when an event is recorded, and the keys whose
 * windows emptied are forgotten once per window.
 */
export class SlidingWindows {
  private readonly windows = new Map<string, SlidingWindow>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.timer = setInterval(() => this.forgetIdle(), CONNECTION_RATE_WINDOW_MS);
    this.timer.unref();
  }

  /** The key's window, pruned, without creating one (a refused attempt leaves nothing behind). */
  current(key: string): SlidingWindow | undefined {
    const w = this.windows.get(key);
    w?.prune(this.now());
    return w;
  }

  record(key: string): void {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = new SlidingWindow()));
    w.times.push(this.now());
  }

  close(): void {
    clearInterval(this.timer);
  }

  private forgetIdle(): void {
    const now = this.now();
    for (const [k, w] of this.windows) {
      w.prune(now);
      if (w.times.length === 0) this.windows.delete(k);
    }
  }
}
