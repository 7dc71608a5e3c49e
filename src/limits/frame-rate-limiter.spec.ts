import { FrameRateLimiter, FrameVerdict } from './frame-rate-limiter';

/** Sends `count` frames evenly over `ms` from `start`; returns the verdicts. */
function send(l: FrameRateLimiter, start: number, count: number, ms: number): FrameVerdict[] {
  const out: FrameVerdict[] = [];
  for (let i = 0; i < count; i++) out.push(l.take(start + (i * ms) / count));
  return out;
}

const tally = (vs: FrameVerdict[]) => ({
  ok: vs.filter((v) => v === 'ok').length,
  notify: vs.filter((v) => v === 'notify').length,
  drop: vs.filter((v) => v === 'drop').length,
  close: vs.filter((v) => v === 'close').length,
});

describe('FrameRateLimiter (RATE_FRAMES_PER_S, RATE_FRAMES_BURST)', () => {
  it('lets a burst through at once, then refuses until the bucket refills', () => {
    const l = new FrameRateLimiter(20, 100, 0);
    const burst = tally(send(l, 0, 101, 0));
    expect(burst).toEqual({ ok: 100, notify: 1, drop: 0, close: 0 });
    expect(l.take(10)).toBe('drop'); // 0.2 tokens refilled
    expect(l.take(60)).toBe('ok'); // one whole token after 50 ms at 20/s
  });

  it('never refuses a client that stays at the rate', () => {
    const l = new FrameRateLimiter(20, 100, 0);
    expect(tally(send(l, 0, 20 * 60, 60_000))).toEqual({ ok: 1200, notify: 0, drop: 0, close: 0 });
  });

  it('sends at most one rate_limited notice per second', () => {
    const l = new FrameRateLimiter(10, 1, 0);
    const vs = send(l, 0, 60, 3000);
    // 3 s at 20/s against 10/s: half the frames refused, one notice per second, the rest silently.
    expect(tally(vs)).toEqual({ ok: 30, notify: 3, drop: 27, close: 0 });
  });

  it('tolerates twice the rate indefinitely, closes three times the rate after several seconds', () => {
    const twice = new FrameRateLimiter(20, 100, 0);
    expect(tally(send(twice, 0, 40 * 120, 120_000)).close).toBe(0);

    const thrice = new FrameRateLimiter(20, 100, 0);
    const vs = send(thrice, 0, 60 * 20, 20_000);
    const firstClose = vs.indexOf('close');
    expect(firstClose).toBeGreaterThan(-1);
    const seconds = (firstClose / (60 * 20)) * 20;
    // The burst of 100 lasts 2.5 s at 60/s; then 5 s of debt at 40 dropped - 20 drained per second.
    expect(seconds).toBeGreaterThan(6);
    expect(seconds).toBeLessThan(9);
  });

  it('closes a flood quickly', () => {
    const l = new FrameRateLimiter(20, 100, 0);
    const vs = send(l, 0, 1000, 500); // 2000 frames/s
    expect(vs.indexOf('close')).toBeGreaterThan(100);
    expect(vs.indexOf('close')).toBeLessThan(250);
  });
});
