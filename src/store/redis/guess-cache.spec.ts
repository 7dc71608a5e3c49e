import { GuessCache, digestOf, readId } from './guess-cache';

describe('GuessCache', () => {
  const h = (key: string, field: string) => readId('h', key, field);

  it('keeps the most recently used entries within its entry limit', () => {
    const cache = new GuessCache({ maxEntries: 2, maxChars: 1000, maxValueChars: 100 });
    cache.set(h('k', 'a'), 'A');
    cache.set(h('k', 'b'), 'B');
    expect(cache.get(h('k', 'a'))).toBe('A'); // a is now the most recent
    cache.set(h('k', 'c'), 'C');
    expect([cache.get(h('k', 'a')), cache.get(h('k', 'b')), cache.get(h('k', 'c'))]).toEqual(['A', undefined, 'C']);
    expect(cache.size).toBe(2);
  });

  it('keeps within its character budget and does not hold values over the value limit', () => {
    const cache = new GuessCache({ maxEntries: 100, maxChars: 10, maxValueChars: 6 });
    cache.set(h('k', 'a'), 'aaaa');
    cache.set(h('k', 'b'), 'bbbb');
    cache.set(h('k', 'c'), 'cccc'); // 12 characters: a goes
    expect([cache.get(h('k', 'a')), cache.get(h('k', 'b')), cache.get(h('k', 'c'))]).toEqual([undefined, 'bbbb', 'cccc']);
    cache.set(h('k', 'b'), 'too long a value');
    expect([cache.get(h('k', 'b')), cache.size]).toEqual([undefined, 1]);
  });

  it('forgets absent values: absent is the guess anyway', () => {
    const cache = new GuessCache();
    cache.set(h('k', 'a'), 'A');
    cache.set(h('k', 'a'), null);
    expect([cache.get(h('k', 'a')), cache.size]).toEqual([undefined, 0]);
  });

  it('learns what HSET, HDEL, CAPPED_ADD, SET and DEL leave, in command order, on the keys it is told to keep', () => {
    const cache = new GuessCache();
    const keep = (key: string) => !key.startsWith('skip');
    cache.learn(
      [
        ['HSET', 'req', 'r1', '{"v":1}', 'r2', '{"v":2}'],
        ['HSET', 'tomb', 'r:r1', 1700],
        ['HDEL', 'req', 'r2'],
        ['CAPPED_ADD', 'msg:r1', 'msgz:r1', 'm1', 5, '{"m":1}', 300],
        ['SET', 'project', '{"p":1}'],
        ['HSET', 'skip', 'f', 'x'],
        ['ZADD', 'open', 5, 'r1'],
      ],
      keep,
    );
    expect(cache.get(h('req', 'r1'))).toBe('{"v":1}');
    expect(cache.get(h('req', 'r2'))).toBeUndefined();
    expect(cache.get(h('tomb', 'r:r1'))).toBe('1700');
    expect(cache.get(h('msg:r1', 'm1'))).toBe('{"m":1}');
    expect(cache.get(readId('g', 'project', ''))).toBe('{"p":1}');
    expect(cache.get(h('skip', 'f'))).toBeUndefined();
    cache.learn([['DEL', 'project']], keep);
    expect(cache.get(readId('g', 'project', ''))).toBeUndefined();
  });

  it('names reads unambiguously and digests values as the commit script does', () => {
    expect(readId('h', 'ab', 'c')).not.toBe(readId('h', 'a', 'bc'));
    expect(digestOf(null)).toBe('');
    // SHA-1 of the UTF-8 bytes, as redis.sha1hex computes it over the stored string (an empty one is not absent)
    expect(digestOf('')).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709');
    expect(digestOf('é')).toBe('bf15be717ac1b080b4f1c456692825891ff5073d');
  });
});
