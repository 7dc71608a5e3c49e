import { fieldValue, flatRecord, numberOrNull, parseAutoClaim, parseReadGroup } from './stream-replies';

describe('stream replies', () => {
  it('reads the entries of an XREADGROUP reply, a deleted pending entry having null fields', () => {
    const reply = [
      [
        'rt:ingest',
        [
          ['1-0', ['event', '{}']],
          ['2-0', null],
        ],
      ],
    ];
    expect(parseReadGroup(reply)).toEqual([
      { id: '1-0', fields: ['event', '{}'] },
      { id: '2-0', fields: null },
    ]);
    expect(parseReadGroup(null)).toEqual([]);
  });

  it('reads XAUTOCLAIM replies of Redis 6.2 (no deleted ids) and 7 (deleted ids)', () => {
    expect(parseAutoClaim(['0-0', [['1-0', ['event', 'x']]]])).toEqual({
      cursor: '0-0',
      entries: [{ id: '1-0', fields: ['event', 'x'] }],
      deleted: [],
    });
    expect(parseAutoClaim(['5-0', [], ['3-0', '4-0']])).toEqual({ cursor: '5-0', entries: [], deleted: ['3-0', '4-0'] });
  });

  it('reads fields and XINFO records', () => {
    expect(fieldValue(['a', '1', 'event', '{"x":1}', 'event', 'second'], 'event')).toBe('{"x":1}');
    expect(fieldValue(['a', '1'], 'event')).toBeUndefined();
    const info = flatRecord(['name', 'rt:realtime', 'pending', 3, 'lag', null]);
    expect(info).toEqual({ name: 'rt:realtime', pending: 3, lag: null });
    expect([numberOrNull(info['pending']), numberOrNull(info['lag']), numberOrNull('12'), numberOrNull('')]).toEqual([3, null, 12, null]);
  });
});
