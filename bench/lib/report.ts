import { cpus, totalmem } from 'node:os';
import { TARGET_IDS, TARGET_LABELS, TargetId } from './targets';

/**
 * The run's one table and its JSON form. A cell is a number, `null` when the metric does not apply to that
 * target, or a word (`n/a`, `error`, `not measured yet`) that says why there is no number. Ratios are
 * ours ÷ peer for every numeric row: above 1 means we are higher (slower for latencies and costs, faster
 * for rates).
 */
export type Cell = number | string | null;

export interface Row {
  metric: string;
  values: Record<TargetId, Cell>;
  /** Decimals to print. */
  digits: number;
  /** Print ours ÷ peer. */
  ratio: boolean;
}

export type TargetStatus = { status: 'measured'; measurement: unknown } | { status: 'unavailable' | 'error'; reason: string };

export interface ScenarioOutcome {
  id: string;
  /** First column of the table (the id, plus the size when a scenario runs at several). */
  label: string;
  title: string;
  status: 'measured' | 'not measured yet';
  params: Record<string, unknown>;
  rows: Row[];
  targets: Partial<Record<TargetId, TargetStatus>>;
  notes: string[];
}

/** A scenario's outcome before any target ran: rows, targets and notes are filled as it measures. */
export function newOutcome(id: string, label: string, title: string, params: Record<string, unknown>): ScenarioOutcome {
  return { id, label, title, status: 'measured', params, rows: [], targets: {}, notes: [] };
}

export interface BenchReport {
  startedAt: string;
  durationS: number;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  scenarios: ScenarioOutcome[];
  table: string;
}

export function machineInfo(): BenchReport['machine'] {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** A row picker that reads a target's first measurement (scenarios that measure once per target). */
export const fromFirst =
  <M>(f: (m: M) => number | null) =>
  (ms: M[]): number | null =>
    f(ms[0]!);

/** A row whose value per target comes from `pick` on each measured target's result (a word when there is no number). */
export function rowOf<M>(
  outcome: ScenarioOutcome,
  metric: string,
  digits: number,
  pick: (m: M, target: TargetId) => Cell,
  ratio = true,
): Row {
  const values = {} as Record<TargetId, Cell>;
  for (const id of TARGET_IDS) {
    const t = outcome.targets[id];
    if (!t) values[id] = 'not run';
    else if (t.status === 'measured') values[id] = pick(t.measurement as M, id);
    else values[id] = t.status === 'unavailable' ? 'n/a' : 'error';
  }
  return { metric, values, digits, ratio };
}

function formatCell(c: Cell, digits: number): string {
  if (c === null) return '—';
  if (typeof c === 'string') return c;
  if (!Number.isFinite(c)) return '—';
  return c.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratioOf(ours: Cell, peer: Cell): string {
  if (typeof ours !== 'number' || typeof peer !== 'number' || !Number.isFinite(ours) || !Number.isFinite(peer)) return '';
  if (peer === 0) return ours === 0 ? '1.00×' : '';
  return `${(ours / peer).toFixed(2)}×`;
}

export function formatTable(outcomes: ScenarioOutcome[]): string {
  const header = ['scenario', 'metric', ...TARGET_IDS.map((t) => TARGET_LABELS[t]), 'ours÷ws', 'ours÷Socket.IO'];
  const lines: string[][] = [];
  for (const o of outcomes) {
    if (o.status !== 'measured') {
      lines.push([o.label, `${o.title}: not measured yet`, '', '', '', '', '']);
      continue;
    }
    o.rows.forEach((r, i) => {
      lines.push([
        i === 0 ? o.label : '',
        r.metric,
        ...TARGET_IDS.map((t) => formatCell(r.values[t], r.digits)),
        r.ratio ? ratioOf(r.values.ours, r.values.ws) : '',
        r.ratio ? ratioOf(r.values.ours, r.values.socketio) : '',
      ]);
    });
  }
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c]!.length)));
  const numeric = (c: number) => c >= 2;
  const fmt = (cells: string[]) => `| ${cells.map((x, c) => (numeric(c) ? x.padStart(widths[c]!) : x.padEnd(widths[c]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (numeric(c) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [fmt(header), rule, ...lines.map(fmt)].join('\n');
}
