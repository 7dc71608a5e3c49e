/**
 * Shapes of the Redis stream replies the consumer reads, parsed defensively: ioredis hands them over as
 * nested arrays of strings, and a few of them changed between Redis versions.
 */

export interface StreamEntry {
  id: string;
  /** Flat field/value list; null when the entry was deleted (trimmed) while still pending. */
  fields: string[] | null;
}

/** Entries of an XRANGE-like list: `[[id, [field, value, ...] | null], ...]`. */
export function parseEntries(raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  const out: StreamEntry[] = [];
  for (const e of raw) {
    if (!Array.isArray(e) || typeof e[0] !== 'string') continue;
    const fields: unknown = e[1];
    out.push({ id: e[0], fields: Array.isArray(fields) ? fields.map((f) => String(f)) : null });
  }
  return out;
}

/** XREADGROUP on one stream: `null` (timeout) or `[[key, entries]]`. */
export function parseReadGroup(raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw) || raw.length === 0) return [];
  const first: unknown = raw[0];
  return Array.isArray(first) ? parseEntries(first[1]) : [];
}

export interface AutoClaimReply {
  cursor: string;
  entries: StreamEntry[];
  /** Redis >= 7: ids that were pending but no longer exist in the stream (already removed from the PEL). */
  deleted: string[];
}

/** XAUTOCLAIM: `[cursor, entries]` (6.2) or `[cursor, entries, deletedIds]` (7.0+). */
export function parseAutoClaim(raw: unknown): AutoClaimReply {
  if (!Array.isArray(raw)) return { cursor: '0-0', entries: [], deleted: [] };
  const deleted: unknown = raw[2];
  return {
    cursor: typeof raw[0] === 'string' ? raw[0] : '0-0',
    entries: parseEntries(raw[1]),
    deleted: Array.isArray(deleted) ? deleted.map((d) => String(d)) : [],
  };
}

/** A flat `[key, value, key, value, ...]` reply (XINFO) as a record. */
export function flatRecord(raw: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(raw)) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) out[String(raw[i])] = raw[i + 1];
  return out;
}

/** The value of the first `name` field of an entry. */
export function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** A number from an XINFO field, or null when Redis does not know it (e.g. `lag` after deletions). */
export function numberOrNull(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v !== '' && !Number.isNaN(Number(v))) return Number(v);
  return null;
}
