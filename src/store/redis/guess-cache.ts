import { createHash } from 'node:crypto';

/**
 * What one point read of the apply planner asks Redis: `g` GET key, `h` HGET key field, `x` HEXISTS key field
 * (its value is '1' when the field exists, else absent).
 */
export type ReadKind = 'g' | 'h' | 'x';

/** A write as the commit script takes it: a command name and its arguments. */
export type Cmd = Array<string | number>;

/** The identity of a point read (kind, key, field), unambiguous whatever the key holds. */
export function readId(kind: ReadKind, key: string, field: string): string {
  return `${kind}${key.length}:${key}${field}`;
}

/** How the commit script compares a stored value with the one a plan was made on ('' for absent). */
export function digestOf(value: string | null): string {
  return value === null ? '' : createHash('sha1').update(value, 'utf8').digest('hex');
}

/**
 * Values of a project's keys this replica saw stored (written by its own commits, or answered by a commit whose
 * reads did not match), so that the next apply can plan without reading Redis first: a bounded LRU, by entries
 * and by characters held. It is only ever a guess: every value a plan used is checked by the commit script
 * against what Redis holds, and a wrong one costs a retry, never a wrong commit. A key it holds nothing for is
 * guessed absent (most ingest events create documents). Absent values are not kept: absent is the guess anyway.
 */
export class GuessCache {
  private readonly entries = new Map<string, string>();
  private chars = 0;

  constructor(
    private readonly limits: { maxEntries: number; maxChars: number; maxValueChars: number } = {
      maxEntries: 4096,
      maxChars: 8 << 20,
      maxValueChars: 64 << 10,
    },
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The value last seen under a read, or undefined (unknown: guess absent); a hit becomes the most recent. */
  get(id: string): string | undefined {
    const value = this.entries.get(id);
    if (value === undefined) return undefined;
    this.entries.delete(id);
    this.entries.set(id, value);
    return value;
  }

  /** Keeps what a read answers now (null: absent, forgotten); oldest entries go past the limits. */
  set(id: string, value: string | null): void {
    const old = this.entries.get(id);
    if (old !== undefined) {
      this.entries.delete(id);
      this.chars -= old.length;
    }
    if (value === null || value.length > this.limits.maxValueChars) return;
    this.entries.set(id, value);
    this.chars += value.length;
    while (this.entries.size > this.limits.maxEntries || this.chars > this.limits.maxChars) {
      const [oldest, v] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.chars -= v.length;
    }
  }

  /**
   * Learns from the writes of a commit that Redis executed, in their order, on keys `keep` accepts (those the
   * planner reads): HSET/HDEL and CAPPED_ADD (a capped map: its field) as HGET answers, SET/DEL as GET answers.
   * What a command may drop unseen (a CAPPED_ADD over its cap, CAPPED_DEL and CAPPED_EXPIRE of a whole map) stays
   * a guess that a commit will correct.
   */
  learn(cmds: Cmd[], keep: (key: string) => boolean): void {
    for (const [name, key, ...rest] of cmds) {
      if (typeof key !== 'string' || !keep(key)) continue;
      switch (name) {
        case 'HSET':
          for (let i = 0; i + 1 < rest.length; i += 2) this.set(readId('h', key, String(rest[i])), String(rest[i + 1]));
          break;
        case 'HDEL':
          for (const field of rest) this.set(readId('h', key, String(field)), null);
          break;
        case 'CAPPED_ADD':
          this.set(readId('h', key, String(rest[1])), String(rest[3]));
          break;
        case 'SET':
          this.set(readId('g', key, ''), String(rest[0]));
          break;
        case 'DEL':
          for (const k of [key, ...rest]) this.set(readId('g', String(k), ''), null);
          break;
      }
    }
  }
}
