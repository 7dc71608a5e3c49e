/**
 * What happens to one client frame under the per-connection rate (operations.md §3): `ok` handle it;
 * `drop` discard it silently; `notify` discard it and send one `error rate_limited` (at most one per second);
 * `close` the abuse went on: close the connection with 1008.
 */
export type FrameVerdict = 'ok' | 'drop' | 'notify' | 'close';

/** How long between two `error rate_limited` frames to one connection. */
const NOTIFY_EVERY_MS = 1000;
/**
 * Dropped frames accumulate in a debt that drains at the allowed rate; a connection whose debt passes this
 * many seconds' worth of its rate is closed. A client sending at twice the rate never gets there (its drops
 * drain as fast as they come); one sending at three times gets there after about this many seconds.
 */
const ABUSE_SECONDS = 5;

/**
 * A token bucket per connection: RATE_FRAMES_BURST frames at once, refilled at RATE_FRAMES_PER_S. A few numbers
 * per connection, no timer: the bucket refills by the time elapsed when the next frame arrives.
 */
export class FrameRateLimiter {
  private tokens: number;
  private debt = 0;
  private last: number;
  private notifiedAt = -Infinity;

  constructor(
    private readonly perS: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  take(now: number): FrameVerdict {
    const refill = (Math.max(0, now - this.last) * this.perS) / 1000;
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + refill);
    this.debt = Math.max(0, this.debt - refill);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'ok';
    }
    this.debt += 1;
    if (this.debt > ABUSE_SECONDS * this.perS) return 'close';
    if (now - this.notifiedAt >= NOTIFY_EVERY_MS) {
      this.notifiedAt = now;
      return 'notify';
    }
    return 'drop';
  }
}
