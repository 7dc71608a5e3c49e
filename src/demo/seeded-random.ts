import { randomInt } from 'node:crypto';

/**
 * A small seedable pseudo-random source (mulberry32 over a string hash), so that `DEMO_SEED` replays
 * the same story: same ids, same arrivals, same conversations. Not for anything security related.
 */
export class SeededRandom {
  readonly seed: string;
  private state: number;

  constructor(seed?: string) {
    this.seed = seed ?? String(randomInt(1, 2 ** 31 - 1));
    this.state = hashSeed(this.seed);
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Picks a key with probability proportional to its weight; null when every weight is 0. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K | null {
    const entries = Object.entries(weights) as Array<[K, number]>;
    const total = entries.reduce((sum, [, w]) => sum + Math.max(0, w), 0);
    if (total <= 0) return null;
    let r = this.next() * total;
    for (const [key, w] of entries) {
      r -= Math.max(0, w);
      if (r < 0) return key;
    }
    return entries[entries.length - 1]![0];
  }

  hex(length: number): string {
    let out = '';
    while (out.length < length) out += Math.floor(this.next() * 16).toString(16);
    return out;
  }

  /** A version-4 shaped UUID (Tiledesk visitor ids look like this). */
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[this.int(0, 3)]}${h.slice(17, 20)}-${h.slice(20)}`;
  }

  /** A 24-hex id, shaped like a MongoDB ObjectId. */
  objectId(): string {
    return this.hex(24);
  }
}

function hashSeed(seed: string): number {
  // FNV-1a: spreads short seeds such as "1" and "2" far apart.
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
