import { appendPoint, seriesColumns, SeriesPoint } from './metrics-series';
import { metricsAt } from './metrics-fixture';

const at = (s: number) => new Date(Date.parse('2026-11-25T10:00:00.000Z') + s * 1000).toISOString();

describe('appendPoint', () => {
  it('appends one point per frame with the queue, arrivals and closures', () => {
    let s: SeriesPoint[] = [];
    s = appendPoint(s, metricsAt(at(0), { unassigned: 1, arrivals: 4, closures: 2 }));
    s = appendPoint(s, metricsAt(at(2), { unassigned: 3, arrivals: 8, closures: 2 }));
    expect(seriesColumns(s).map((c) => c.length)).toEqual([2, 2, 2, 2]);
    expect(seriesColumns(s).slice(1)).toEqual([
      [1, 3],
      [4, 8],
      [2, 2],
    ]);
    expect(s[1]!.t - s[0]!.t).toBe(2);
  });

  it('replaces the last point when the same object comes again, and drops one older than the last', () => {
    let s = appendPoint([], metricsAt(at(10), { unassigned: 1 }));
    s = appendPoint(s, metricsAt(at(10), { unassigned: 5 }));
    expect(s.map((p) => p.queue)).toEqual([5]);
    s = appendPoint(s, metricsAt(at(5), { unassigned: 9 }));
    expect(s.map((p) => p.queue)).toEqual([5]);
  });

  it('keeps the last hour only', () => {
    let s: SeriesPoint[] = [];
    for (let i = 0; i <= 4000; i += 100) s = appendPoint(s, metricsAt(at(i)));
    expect(s[0]!.t).toBe(Date.parse(at(400)) / 1000);
    expect(s[s.length - 1]!.t - s[0]!.t).toBeLessThanOrEqual(3600);
  });

  it('does not change the series it is given', () => {
    const s = appendPoint([], metricsAt(at(0)));
    const copy = [...s];
    appendPoint(s, metricsAt(at(1)));
    expect(s).toEqual(copy);
  });
});
