import { isDeepStrictEqual } from 'node:util';
import { timeOf } from './documents';

export type Freshness = 'newer' | 'stale' | 'duplicate';

interface Versioned {
  updatedAt?: string;
  __v?: number;
}

/**
 * ingest.md §1: an update older than the stored document (by `updatedAt`, ties broken by `__v`) is stale;
 * the same version with identical content is a duplicate. Where the versions cannot be compared (a side
 * lacks them), the incoming document wins unless it is identical.
 */
export function freshness(stored: Versioned | undefined | null, incoming: Versioned): Freshness {
  if (!stored) return 'newer';
  const ts = timeOf(stored.updatedAt);
  const ti = timeOf(incoming.updatedAt);
  if (!Number.isNaN(ts) && !Number.isNaN(ti)) {
    if (ti < ts) return 'stale';
    if (ti > ts) return 'newer';
  }
  if (typeof stored.__v === 'number' && typeof incoming.__v === 'number') {
    if (incoming.__v < stored.__v) return 'stale';
    if (incoming.__v > stored.__v) return 'newer';
  }
  return isDeepStrictEqual(stored, incoming) ? 'duplicate' : 'newer';
}
