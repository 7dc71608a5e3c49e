import { BOOTSTRAP_ORDER, UNREADABLE } from './backfill-envelope';

/** Counts of one event type (or of all). `failed`: read but not applied (refused, unreadable, or lost with the target). */
export interface TypeCounts {
  read: number;
  sent: number;
  accepted: number;
  duplicates: number;
  stale: number;
  failed: number;
}

export interface BackfillSummary {
  byType: Record<string, TypeCounts>;
  total: TypeCounts;
  /** Tiledesk reads that failed for good (their events are unknown, so not counted per type). */
  readsFailed: number;
  /** Every problem, in order, for the operator. */
  problems: string[];
  /** The error that ended the run early, if one did. */
  fatal: string | null;
  elapsedMs: number;
  dryRun: boolean;
}

const zero = (): TypeCounts => ({ read: 0, sent: 0, accepted: 0, duplicates: 0, stale: 0, failed: 0 });

/** Accumulates the outcome of a run; `summary()` is a copy. */
export class SummaryCounter {
  private readonly byType = new Map<string, TypeCounts>();
  private readsFailed = 0;
  private readonly problems: string[] = [];
  private fatal: string | null = null;

  constructor(private readonly dryRun: boolean) {}

  read(type: string): void {
    this.of(type).read++;
  }

  /** A batch of one type the service answered 202 for. */
  applied(type: string, sent: number, result: { accepted: number; duplicates: number; stale: number }): void {
    const c = this.of(type);
    c.sent += sent;
    c.accepted += result.accepted;
    c.duplicates += result.duplicates;
    c.stale += result.stale;
  }

  failed(type: string, count: number, problem?: string): void {
    this.of(type).failed += count;
    if (problem !== undefined) this.problems.push(problem);
  }

  readFailed(problem: string): void {
    this.readsFailed++;
    this.problems.push(problem);
  }

  stopped(message: string): void {
    this.fatal = message;
  }

  /** Whether the run is a success: nothing failed, nothing left unread. */
  get ok(): boolean {
    return this.fatal === null && this.readsFailed === 0 && this.totals().failed === 0;
  }

  totals(): TypeCounts {
    const t = zero();
    for (const c of this.byType.values()) for (const k of Object.keys(t) as Array<keyof TypeCounts>) t[k] += c[k];
    return t;
  }

  summary(elapsedMs: number): BackfillSummary {
    const byType: Record<string, TypeCounts> = {};
    for (const type of orderedTypes([...this.byType.keys()])) byType[type] = { ...this.byType.get(type)! };
    return {
      byType,
      total: this.totals(),
      readsFailed: this.readsFailed,
      problems: [...this.problems],
      fatal: this.fatal,
      elapsedMs,
      dryRun: this.dryRun,
    };
  }

  private of(type: string): TypeCounts {
    let c = this.byType.get(type);
    if (!c) this.byType.set(type, (c = zero()));
    return c;
  }
}

/** Types in the order of ingest.md §3, then the others alphabetically, the unreadable last. */
function orderedTypes(types: string[]): string[] {
  const rank = (t: string) => {
    const i = (BOOTSTRAP_ORDER as readonly string[]).indexOf(t);
    return i >= 0 ? i : t === UNREADABLE ? 1000 : 100;
  };
  return [...types].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** How many problems the printed summary lists (all are counted). */
export const PROBLEMS_SHOWN = 20;

/** The summary as printed at the end of a run. */
export function formatSummary(s: BackfillSummary, from: string, to: string): string {
  const lines: string[] = [];
  const secs = (s.elapsedMs / 1000).toFixed(1);
  const outcome = s.fatal !== null ? 'stopped' : s.dryRun ? 'dry run done' : 'done';
  lines.push(`backfill ${outcome} in ${secs} s: from ${from}${s.dryRun ? ' (nothing sent)' : ` to ${to}`}`);
  const cols: Array<keyof TypeCounts> = s.dryRun ? ['read', 'failed'] : ['read', 'sent', 'accepted', 'duplicates', 'stale', 'failed'];
  const rows: string[][] = [['type', ...cols]];
  for (const [type, c] of Object.entries(s.byType)) rows.push([type, ...cols.map((k) => String(c[k]))]);
  rows.push(['total', ...cols.map((k) => String(s.total[k]))]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) lines.push(`  ${r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`);
  if (s.readsFailed > 0) lines.push(`reads failed: ${s.readsFailed} (their events are not counted above)`);
  if (s.problems.length > 0) {
    const shown = s.problems.slice(0, PROBLEMS_SHOWN);
    lines.push(`problems${s.problems.length > shown.length ? ` (first ${shown.length} of ${s.problems.length})` : ''}:`);
    for (const p of shown) lines.push(`  ${p}`);
  }
  if (s.fatal !== null) lines.push(`stopped: ${s.fatal}`);
  return lines.join('\n');
}
