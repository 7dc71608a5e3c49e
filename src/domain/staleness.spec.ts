import { freshness } from './staleness';

const doc = (updatedAt: string | undefined, v: number | undefined, extra: Record<string, unknown> = {}) => ({
  _id: 'x',
  ...(updatedAt !== undefined ? { updatedAt } : {}),
  ...(v !== undefined ? { __v: v } : {}),
  ...extra,
});

describe('freshness (ingest.md §1, staleness)', () => {
  it('nothing stored: the incoming document applies', () => {
    expect(freshness(undefined, doc('2026-01-01T00:00:00.000Z', 0))).toBe('newer');
    expect(freshness(null, doc(undefined, undefined))).toBe('newer');
  });

  it('an older updatedAt is stale, even with a higher __v', () => {
    expect(freshness(doc('2026-01-01T00:00:02.000Z', 0), doc('2026-01-01T00:00:01.000Z', 0))).toBe('stale');
    expect(freshness(doc('2026-01-01T00:00:02.000Z', 0), doc('2026-01-01T00:00:01.000Z', 9))).toBe('stale');
  });

  it('a newer updatedAt applies, even with a lower __v', () => {
    expect(freshness(doc('2026-01-01T00:00:01.000Z', 0), doc('2026-01-01T00:00:02.000Z', 0))).toBe('newer');
    expect(freshness(doc('2026-01-01T00:00:01.000Z', 5), doc('2026-01-01T00:00:02.000Z', 1))).toBe('newer');
  });

  it('compares instants, not strings (different time zone notation)', () => {
    expect(freshness(doc('2026-01-01T01:00:00.000+01:00', 0), doc('2026-01-01T00:00:00.500Z', 0))).toBe('newer');
    expect(freshness(doc('2026-01-01T00:00:00.500Z', 0), doc('2026-01-01T01:00:00.000+01:00', 0))).toBe('stale');
  });

  it('equal updatedAt: the tie is broken by __v', () => {
    const t = '2026-01-01T00:00:00.000Z';
    expect(freshness(doc(t, 3), doc(t, 2, { changed: true }))).toBe('stale');
    expect(freshness(doc(t, 2), doc(t, 3, { changed: true }))).toBe('newer');
  });

  it('same updatedAt and __v with identical content is a duplicate', () => {
    const t = '2026-01-01T00:00:00.000Z';
    expect(freshness(doc(t, 1, { a: { b: [1, 2] } }), doc(t, 1, { a: { b: [1, 2] } }))).toBe('duplicate');
  });

  it('same updatedAt and __v with different content applies', () => {
    const t = '2026-01-01T00:00:00.000Z';
    expect(freshness(doc(t, 1, { status: 100 }), doc(t, 1, { status: 200 }))).toBe('newer');
    expect(freshness(doc(t, 1, { a: { b: [1, 2] } }), doc(t, 1, { a: { b: [2, 1] } }))).toBe('newer');
  });

  it('without versions on a side: identical is a duplicate, different applies', () => {
    expect(freshness(doc(undefined, undefined, { a: 1 }), doc(undefined, undefined, { a: 1 }))).toBe('duplicate');
    expect(freshness(doc(undefined, undefined, { a: 1 }), doc(undefined, undefined, { a: 2 }))).toBe('newer');
    expect(freshness(doc('2026-01-01T00:00:00.000Z', 1), doc(undefined, 0, { a: 2 }))).toBe('stale');
  });
});
