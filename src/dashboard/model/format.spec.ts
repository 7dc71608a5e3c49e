import { formatDuration, formatPercent, formatRate, NO_VALUE } from './format';

describe('format', () => {
  it('writes durations in s, min and h', () => {
    expect([0, 42.9, 60, 185, 3600, 3845].map(formatDuration)).toEqual([
      '0 s',
      '42 s',
      '1 min 00 s',
      '3 min 05 s',
      '1 h 00 min',
      '1 h 04 min',
    ]);
    expect(formatDuration(null)).toBe(NO_VALUE);
  });

  it('writes shares as percentages that keep 99.97 % apart from 100 %', () => {
    expect([0, 1, 0.8, 0.0312, 0.9997, 0.0003].map(formatPercent)).toEqual(['0 %', '100 %', '80 %', '3.1 %', '99.97 %', '0.03 %']);
    expect(formatPercent(null)).toBe(NO_VALUE);
  });

  it('writes rates', () => {
    expect([0, 2.5, 4, 40.4].map(formatRate)).toEqual(['0', '2.5', '4', '40']);
  });
});
