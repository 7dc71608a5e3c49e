import { keySlot } from './key-slot';

describe('keySlot', () => {
  // Expected values are what `CLUSTER KEYSLOT` answers on redis-server 7.
  it.each([
    ['123456789', 12739],
    ['foo', 12182],
    ['somekey', 11058],
    ['{user1000}.following', 3443],
    ['rt:p:{abc}', 7638],
    ['a{}b', 13694], // empty tag: the whole key is hashed
    ['{}x{y}', 2166], // only the first '{' counts
    ['x{y}{z}', 12222],
    ['é{ü}', 9552], // bytes, not UTF-16 code units
  ])('%s -> %i', (key, slot) => {
    expect(keySlot(key)).toBe(slot);
  });

  it('hashes a project channel like the project keys that carry its hash tag', () => {
    expect(keySlot('rt:p:{64f0a1}')).toBe(keySlot('rt:{64f0a1}:requests'));
  });
});
