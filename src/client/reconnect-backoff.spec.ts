import { backoffCapMs, backoffDelayMs, reconnectPolicy } from './reconnect-backoff';

describe('reconnect back-off: exponential with full jitter', () => {
  const p = reconnectPolicy();

  it('defaults to 500 ms doubling up to 30 s', () => {
    expect(p).toEqual({ initialDelayMs: 500, maxDelayMs: 30_000, factor: 2 });
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50, 5000].map((n) => backoffCapMs(n, p))).toEqual([
      500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('puts attempt n anywhere in [0, min(max, initial × factor^(n−1))]: 0 at random 0, near the cap at random → 1', () => {
    for (let n = 1; n <= 12; n++) {
      const cap = Math.min(30_000, 500 * 2 ** (n - 1));
      expect(backoffDelayMs(n, p, () => 0)).toBe(0);
      const top = backoffDelayMs(n, p, () => 0.999999);
      expect(top).toBeLessThanOrEqual(cap);
      expect(top).toBeGreaterThanOrEqual(cap * 0.999);
      expect(backoffDelayMs(n, p, () => 0.5)).toBe(Math.round(cap / 2));
    }
  });

  it('stays within its bounds for any random value, with other settings', () => {
    const q = reconnectPolicy({ initialDelayMs: 100, maxDelayMs: 5000, factor: 3 });
    let seed = 42;
    const lcg = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let n = 1; n <= 30; n++) {
      const cap = Math.min(5000, 100 * 3 ** (n - 1));
      for (let i = 0; i < 50; i++) {
        const d = backoffDelayMs(n, q, lcg);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(cap);
      }
    }
    // Reached and kept: factor^(n−1) becoming Infinity does not leak out.
    expect(backoffCapMs(2000, q)).toBe(5000);
    expect(backoffDelayMs(2000, q, () => 0.999999)).toBe(5000);
  });

  it('takes a fixed schedule instead when given one', () => {
    const fixed = reconnectPolicy({ delayMs: (n) => n * 10 });
    expect([1, 2, 3].map((n) => backoffDelayMs(n, fixed, () => 0))).toEqual([10, 20, 30]);
  });

  it('refuses settings that make no back-off', () => {
    expect(() => reconnectPolicy({ factor: 0.5 })).toThrow(RangeError);
    expect(() => reconnectPolicy({ initialDelayMs: -1 })).toThrow(RangeError);
    expect(() => reconnectPolicy({ maxDelayMs: Number.NaN })).toThrow(RangeError);
    // undefined keeps the default
    expect(reconnectPolicy({ factor: undefined }).factor).toBe(2);
  });
});
