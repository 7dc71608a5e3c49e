import { clockOffsetFromDateHeader, clockOffsetMs, oldestWaitNow } from './server-clock';

describe('oldestWaitNow', () => {
  it('ages the oldest wait by the time since the object arrived, on the browser clock', () => {
    expect(oldestWaitNow(95, 1_000_000, 1_000_000)).toBe(95);
    expect(oldestWaitNow(95, 1_000_000, 1_003_500)).toBe(98.5);
    // A clock step backwards does not make a wait shorter than the server said.
    expect(oldestWaitNow(95, 1_000_000, 999_000)).toBe(95);
    expect(oldestWaitNow(null, 1_000_000, 1_003_500)).toBeNull();
  });
});

describe('clock offsets', () => {
  it('tells how far the server clock is ahead of the browser', () => {
    expect(clockOffsetMs('2026-11-25T10:00:05.000Z', Date.parse('2026-11-25T10:00:00.000Z'))).toBe(5000);
    expect(clockOffsetMs('not a date', 1)).toBe(0);
    expect(clockOffsetFromDateHeader('Wed, 25 Nov 2026 10:00:05 GMT', Date.parse('2026-11-25T10:00:00.000Z'))).toBe(5500);
    expect(clockOffsetFromDateHeader(null, 1)).toBe(0);
  });
});
