/**
 * Ages on the page (oldest wait, each request's wait) tick every second between frames. They are counted on the
 * browser's clock from the moment the figure arrived, not from the server's timestamps compared with the browser's
 * clock: a browser whose clock is a minute off would otherwise show every wait a minute off.
 */

/** `oldest_wait_s` of a metrics object received at `receivedAtMs`, aged to `nowMs`; null when nothing waits. */
export function oldestWaitNow(oldestWaitS: number | null, receivedAtMs: number, nowMs: number): number | null {
  if (oldestWaitS === null) return null;
  return oldestWaitS + Math.max(0, nowMs - receivedAtMs) / 1000;
}

/**
 * How far the server's clock is ahead of the browser's, from a metrics object's `generated_at` and the moment it
 * arrived (the frame's transit time is counted in, a few milliseconds). Used to age requests by their
 * `createdAt`, which the server's side set.
 */
export function clockOffsetMs(generatedAt: string, receivedAtMs: number): number {
  const t = Date.parse(generatedAt);
  return Number.isFinite(t) ? t - receivedAtMs : 0;
}

/** The same from an HTTP `Date` header (one-second precision): for a page that receives no metrics. */
export function clockOffsetFromDateHeader(header: string | null, receivedAtMs: number): number {
  if (header === null) return 0;
  const t = Date.parse(header);
  // The header is truncated to the second: add half of one so that the error is at most ±0.5 s.
  return Number.isFinite(t) ? t + 500 - receivedAtMs : 0;
}
